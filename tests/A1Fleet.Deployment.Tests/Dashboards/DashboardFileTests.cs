using System.Text.Json.Nodes;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Dashboards;

/// <summary>The dashboard files themselves: Grafana's structure, datasources, variables and metric names (no Prometheus needed).</summary>
public sealed class DashboardFileTests
{
    public static TheoryData<string> DashboardFiles() => [.. Support.Dashboards.Files().Select(f => Path.GetFileName(f))];

    private static string PathOf(string file) => Path.Combine(Repo.PathOf(Support.Dashboards.Folder), file);

    [Fact]
    public void Dashboards_Folder_HasTheFourDashboards()
    {
        var uids = Support.Dashboards.Files().Select(f => (string?)Support.Dashboards.Load(f)["uid"]).ToList();

        Assert.Equal(["a1fleet-calibration", "a1fleet-overview", "a1fleet-inference", "a1fleet-robots"], uids);
    }

    [Theory]
    [MemberData(nameof(DashboardFiles))]
    public void Dashboard_Structure_IsGrafanaDashboardWithUniquePanelIdsInsideTheGrid(string file)
    {
        var dashboard = Support.Dashboards.Load(PathOf(file));

        Assert.True((int?)dashboard["schemaVersion"] >= 39, $"{file}: schemaVersion {(int?)dashboard["schemaVersion"]} is older than Grafana 11's 39");
        Assert.False(string.IsNullOrWhiteSpace((string?)dashboard["title"]), $"{file}: no title");
        Assert.Matches("^[a-z0-9-]{1,40}$", (string?)dashboard["uid"] ?? "");
        Assert.Contains("a1fleet", dashboard["tags"]!.AsArray().Select(t => (string?)t));
        var panels = Support.Dashboards.Panels(dashboard).ToList();
        Assert.NotEmpty(panels);
        var ids = panels.Select(p => (int?)p["id"]).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        foreach (var panel in panels)
        {
            var grid = panel["gridPos"]!.AsObject();
            var (x, w, h) = ((int)grid["x"]!, (int)grid["w"]!, (int)grid["h"]!);
            Assert.True(x >= 0 && w > 0 && x + w <= 24 && h > 0, $"{file}: panel '{panel["title"]}' is outside Grafana's 24-column grid ({grid.ToJsonString()})");
            if ((string?)panel["type"] != "row")
            {
                Assert.False(string.IsNullOrWhiteSpace((string?)panel["description"]), $"{file}: panel '{panel["title"]}' has no description");
                Assert.NotEmpty(panel["targets"]!.AsArray());
            }
        }
    }

    [Theory]
    [MemberData(nameof(DashboardFiles))]
    public void Dashboard_Datasources_AreTheDsPrometheusVariableDefaultingToTheProvisionedUid(string file)
    {
        var dashboard = Support.Dashboards.Load(PathOf(file));
        var variable = dashboard["templating"]!["list"]!.AsArray().Select(v => v!.AsObject()).Single(v => (string?)v["name"] == "DS_PROMETHEUS");

        Assert.Equal("datasource", (string?)variable["type"]);
        Assert.Equal("prometheus", (string?)variable["query"]);
        Assert.Equal(Support.Dashboards.ProvisionedDatasourceUid, (string?)variable["current"]!["value"]);
        foreach (var panel in Support.Dashboards.Panels(dashboard).Where(p => (string?)p["type"] != "row"))
        {
            var sources = new[] { panel["datasource"] }.Concat(panel["targets"]!.AsArray().Select(t => t!["datasource"]));
            Assert.All(sources, ds =>
            {
                Assert.Equal("prometheus", (string?)ds?["type"]);
                Assert.Equal("${DS_PROMETHEUS}", (string?)ds?["uid"]);
            });
        }
    }

    [Theory]
    [MemberData(nameof(DashboardFiles))]
    public void Dashboard_Queries_UseOnlyDefinedVariables(string file)
    {
        var queries = Support.Dashboards.Queries(PathOf(file)).ToList();

        Assert.NotEmpty(queries);
        Assert.All(queries, q =>
        {
            Assert.False(string.IsNullOrWhiteSpace(q.Expr), $"{q}: empty expr");
            var substituted = Support.Dashboards.Substitute(PathOf(file), q.Expr);
            Assert.DoesNotContain("$", substituted, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Provisioning_Datasource_HasTheUidTheDashboardsUse()
    {
        var text = Repo.ReadText("dashboards/provisioning/datasources/prometheus.yml");

        Assert.Contains($"uid: {Support.Dashboards.ProvisionedDatasourceUid}", text, StringComparison.Ordinal);
        Assert.Contains("type: prometheus", text, StringComparison.Ordinal);
        Assert.Contains("url: http://prometheus:9090", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Provisioning_DashboardProvider_ReadsTheFolderComposeMountsTheDashboardsAt()
    {
        var provider = Repo.ReadText("dashboards/provisioning/dashboards/a1fleet.yml");
        var compose = Repo.ReadText("docker-compose.yml");

        Assert.Contains("path: /var/lib/grafana/dashboards/a1fleet", provider, StringComparison.Ordinal);
        Assert.Contains("./dashboards:/var/lib/grafana/dashboards/a1fleet:ro", compose, StringComparison.Ordinal);
        Assert.Contains("./dashboards/provisioning:/etc/grafana/provisioning:ro", compose, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboards_A1FleetMetricNames_AreDerivedFromDeclaredInstruments()
    {
        var declared = Instruments.Declared().SelectMany(i => i.PrometheusNames).ToHashSet(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var file in Support.Dashboards.Files().Where(f => !f.EndsWith("calibration.json", StringComparison.Ordinal)))
        {
            foreach (var q in Support.Dashboards.Queries(file))
            {
                unknown.AddRange(PromQl.MetricNames(Support.Dashboards.Substitute(file, q.Expr))
                    .Where(n => n.StartsWith("a1fleet_", StringComparison.Ordinal) && !declared.Contains(n))
                    .Select(n => $"{n} in {q}"));
            }
        }

        Assert.True(unknown.Count == 0, "a1fleet metrics no instrument declares (by the exporter's naming):\n" + string.Join('\n', unknown));
    }

    [Fact]
    public void PromQl_MetricNames_SkipsFunctionsLabelsKeywordsAndDurations()
    {
        var names = PromQl.MetricNames(
            "histogram_quantile(0.99, sum by (le, model) (rate(a1fleet_x_bucket{model=~\"a|b\", kind!=\"up\"}[5m]))) " +
            "or on() label_replace(0 * sum(up{job=\"s\"}) offset 1m, \"kind\", \"none\", \"\", \"\") / vector(200) > bool 1e3");

        Assert.Equal(["a1fleet_x_bucket", "up"], names.Order(StringComparer.Ordinal));
    }
}
