using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Dashboards;

/// <summary>
/// Every dashboard query evaluated by a real Prometheus scraping a running fleet (see <see cref="LiveFleetFixture"/>):
/// each must be valid PromQL and return series, and every metric it names must be exported by a process.
/// </summary>
public sealed partial class DashboardPrometheusTests(LiveFleetFixture fleet) : IClassFixture<LiveFleetFixture>
{
    /// <summary>Series Prometheus makes itself for every target; no process exports them.</summary>
    private static readonly HashSet<string> Synthetic = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added", "scrape_samples_post_metric_relabeling"];

    private static IEnumerable<string> FleetDashboards() => Support.Dashboards.Files();

    /// <summary>An alert expression's comparison with its threshold, as Prometheus prints the rule back.</summary>
    [GeneratedRegex(@"\s*>\s*[0-9.]+\s*$")]
    private static partial Regex Threshold();

    [ToolFact("prometheus", "promtool")]
    public void GeneratedScrapeConfig_Promtool_AcceptsIt()
    {
        Assert.NotNull(fleet.PromtoolCheck);
        Assert.True(fleet.PromtoolCheck.ExitCode == 0, $"promtool check config {fleet.GeneratedConfig}:\n{fleet.PromtoolCheck}");
    }

    [ToolFact("prometheus", "promtool")]
    public async Task RobotAgentProcess_MetricsPort_ServesTheAgentMeterToPrometheus()
    {
        Assert.True(fleet.AgentProblem is null, "the robot-agent process (--metrics-port) did not serve its metrics: " + fleet.AgentProblem);
        var up = (await fleet.QueryAsync("up{job=\"a1fleet-agent\"}"))["data"]!["result"]!.AsArray();

        Assert.Equal("1", (string?)Assert.Single(up)!["value"]![1]);
        Assert.Contains("a1fleet_agent_control_ticks_total", fleet.Scrapes["robot agent"], StringComparison.Ordinal);
    }

    /// <summary>
    /// The demo's arms are robots as any other: each holds a Commands stream on the robot gateway (an arm on Orleans
    /// directly would hold none) and a credential the demo issued for its robot in the fleet's store.
    /// </summary>
    [ToolFact("prometheus", "promtool")]
    public async Task FleetDemo_Arms_AreServedThroughTheRobotGatewayWithTheirOwnCredentials()
    {
        var streams = fleet.Scrapes["fleet demo"].Split('\n').Single(l => l.StartsWith("a1fleet_robot_gateway_command_streams", StringComparison.Ordinal));
        var open = double.Parse(streams[(streams.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        // The demo's 4 arms, and the robot-agent process when it runs.
        Assert.True(open >= 4 + (fleet.AgentProblem is null ? 1 : 0), $"open Commands streams on the demo's gateway: {streams}");

        var credentials = await fleet.ApiAsync("/api/robots/franka-01/credentials");
        Assert.Contains(credentials.AsArray(), c => (string?)c!["createdBy"] == "demo" && c["robotId"]?.ToString() == "franka-01");
    }

    [ToolFact("prometheus", "promtool")]
    public async Task DashboardQueries_AgainstRunningFleet_AreValidAndReturnSeries()
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var file in FleetDashboards())
        {
            foreach (var query in Support.Dashboards.Queries(file))
            {
                count++;
                var expr = Support.Dashboards.Substitute(file, query.Expr);
                var answer = await fleet.QueryAsync(expr);
                if ((string?)answer["status"] != "success")
                {
                    failures.Add($"{query}\n    invalid: {answer["error"]}");
                }
                else if (answer["data"]!["result"]!.AsArray().Count == 0)
                {
                    failures.Add($"{query}\n    no series for: {expr}");
                }
            }
        }

        Assert.True(count > 40, $"only {count} queries found in the fleet dashboards");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} dashboard queries failed:\n{string.Join('\n', failures)}");
    }

    [ToolFact("prometheus", "promtool")]
    public async Task DashboardVariables_LabelValues_ListValuesFromTheFleet()
    {
        var failures = new List<string>();
        foreach (var variable in FleetDashboards().SelectMany(Support.Dashboards.VariableQueries))
        {
            var parsed = Support.Dashboards.ParseLabelValues(variable.Query);
            if (parsed is not { } lv)
            {
                failures.Add($"{variable}: not a label_values(metric, label) query");
                continue;
            }

            var values = (await fleet.GetAsync($"/api/v1/label/{lv.Label}/values?match[]={Uri.EscapeDataString(lv.Metric)}"))["data"]!.AsArray();
            if (values.Count == 0)
            {
                failures.Add($"{variable}: no values");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [ToolFact("prometheus", "promtool")]
    public void DashboardMetricNames_AllOfThem_AreExportedByAProcessOrAreEventCountersOfDeclaredInstruments()
    {
        var eventCounters = EventCounterNames();
        var failures = new List<string>();
        foreach (var file in FleetDashboards())
        {
            var names = Support.Dashboards.Queries(file).SelectMany(q => PromQl.MetricNames(Support.Dashboards.Substitute(file, q.Expr)))
                .Concat(Support.Dashboards.VariableQueries(file).Select(v => Support.Dashboards.ParseLabelValues(v.Query)?.Metric ?? ""));
            foreach (var name in names.Where(n => n.Length > 0).Distinct())
            {
                if (!fleet.ExportedNames.Contains(name) && !Synthetic.Contains(name) && !eventCounters.Contains(name))
                {
                    failures.Add($"{Path.GetFileName(file)}: {name}");
                }
            }
        }

        Assert.True(failures.Count == 0,
            "metric names no process exports (scraped: " + string.Join(", ", fleet.Scrapes.Keys) + "):\n" + string.Join('\n', failures));
    }

    /// <summary>
    /// The naming rule that derives event counters' names (they have no series until their first event, so a
    /// healthy fleet does not export them) reproduces every a1fleet series the processes do export, and every
    /// declared histogram and gauge is exported under its derived names.
    /// </summary>
    [ToolFact("prometheus", "promtool")]
    public void ExporterNamingRule_ForDeclaredInstruments_MatchesTheScrapes()
    {
        var declared = Instruments.Declared().ToList();
        var derived = declared.SelectMany(i => i.PrometheusNames).ToHashSet(StringComparer.Ordinal);
        var exportedA1 = fleet.ExportedNames.Where(n => n.StartsWith("a1fleet_", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(declared);
        Assert.All(exportedA1, n => Assert.True(derived.Contains(n), $"{n} is exported but no declared instrument derives it"));
        Assert.All(declared.Where(i => !i.IsEventCounter), i =>
            Assert.True(i.PrometheusNames.All(fleet.ExportedNames.Contains), $"{i.Name} ({i.Kind}, {i.File}) is not exported as {string.Join(", ", i.PrometheusNames)}"));
        Assert.Contains(declared, i => i.IsEventCounter && i.PrometheusNames.All(fleet.ExportedNames.Contains));
    }

    [ToolFact("prometheus", "promtool")]
    public async Task AlertRules_EvaluatedByPrometheus_AreHealthyAndUseExportedNames()
    {
        var groups = (await fleet.GetAsync("/api/v1/rules"))["data"]!["groups"]!.AsArray();
        var rules = groups.SelectMany(g => g!["rules"]!.AsArray()).Select(r => r!.AsObject()).ToList();
        var eventCounters = EventCounterNames();

        Assert.Equal(6, rules.Count);
        Assert.All(rules, r =>
        {
            Assert.True((string?)r["health"] == "ok", $"rule {r["name"]}: health {r["health"]} {r["lastError"]}");
            var unknown = PromQl.MetricNames((string)r["query"]!).Where(n => !fleet.ExportedNames.Contains(n) && !Synthetic.Contains(n) && !eventCounters.Contains(n));
            Assert.Empty(unknown);
        });
    }

    /// <summary>
    /// The refusal-share alert's expression, short of its threshold, on the fixture's fleet, where one robot's budget is
    /// the model's first exit on an idle silo and most of its requests are refused: one share for the model, above 0
    /// and at most 1 (refused over refused and answered; answered requests alone are counted as requests).
    /// </summary>
    [ToolFact("prometheus", "promtool")]
    public async Task RefusalShareAlert_Expression_IsTheRefusedShareOfTheModelsRequests()
    {
        var groups = (await fleet.GetAsync("/api/v1/rules"))["data"]!["groups"]!.AsArray();
        var rule = groups.SelectMany(g => g!["rules"]!.AsArray()).Single(r => (string?)r!["name"] == "A1FleetRefusalShareHigh")!;
        var share = Threshold().Replace((string)rule["query"]!, "");

        var series = Assert.Single((await fleet.QueryAsync(share))["data"]!["result"]!.AsArray())!;
        var value = double.Parse((string)series["value"]![1]!, System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal("tiny-fm", (string?)series["metric"]!["model"]);
        Assert.True(value is > 0 and <= 1, $"refused share {value} from {share}");
    }

    [ToolFact("prometheus", "promtool")]
    public async Task KedaTriggerQueries_AgainstRunningFleet_ReturnOneNumber()
    {
        var queries = KedaQuery().Matches(Repo.ReadText("deploy/k8s/components/keda-autoscaling/scaledobject.yaml")).Select(m => m.Groups[1].Value.Trim()).ToList();

        Assert.Equal(3, queries.Count);
        foreach (var query in queries)
        {
            var answer = await fleet.QueryAsync(query);
            Assert.True((string?)answer["status"] == "success", $"{query}: {answer["error"]}");
            var result = answer["data"]!["result"]!.AsArray();
            Assert.True(result.Count == 1, $"{query}: KEDA needs exactly one series, got {result.Count}");
        }
    }

    [ToolFact("prometheus", "promtool")]
    public async Task CalibrationDashboardQueries_AgainstPrometheus_AreValidPromQl()
    {
        var file = Support.Dashboards.Files().Single(f => f.EndsWith("calibration.json", StringComparison.Ordinal));
        foreach (var query in Support.Dashboards.Queries(file))
        {
            var answer = await fleet.QueryAsync(Support.Dashboards.Substitute(file, query.Expr));
            Assert.True((string?)answer["status"] == "success", $"{query}: {answer["error"]}");
        }
    }

    private static HashSet<string> EventCounterNames() =>
        Instruments.Declared().Where(i => i.IsEventCounter).SelectMany(i => i.PrometheusNames).ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"^\s*query:\s*(.+)$", RegexOptions.Multiline)]
    private static partial Regex KedaQuery();
}
