using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Dashboards;

/// <summary>dashboards/prometheus/prometheus.yml (compose) and the config scripts/fleet-local.sh writes, checked by promtool.</summary>
public sealed class PrometheusConfigTests
{
    [ToolFact("promtool")]
    public void RepositoryConfig_PromtoolCheckConfig_PassesWithItsRules()
    {
        var result = Tools.Run(Tools.Require("promtool"), ["check", "config", Repo.PathOf("dashboards/prometheus/prometheus.yml")], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS: 6 rules found", result.Output, StringComparison.Ordinal);
    }

    [ToolFact("promtool")]
    public void AlertRules_PromtoolCheckRules_Passes()
    {
        var result = Tools.Run(Tools.Require("promtool"), ["check", "rules", Repo.PathOf("dashboards/prometheus/alerts.yml")], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void RepositoryConfig_ScrapeJobs_NameSilosOn8080AndAgentsOn9464()
    {
        var text = Repo.ReadText("dashboards/prometheus/prometheus.yml");

        Assert.Contains("job_name: a1fleet-silo", text, StringComparison.Ordinal);
        Assert.Contains("job_name: a1fleet-agent", text, StringComparison.Ordinal);
        Assert.Contains("metrics_path: /metrics", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Split(":8080\"").Length - 1);
        Assert.Equal(4, text.Split(":9464").Length - 1);
    }

    [ToolFact("promtool", "bash")]
    public void FleetLocalScript_PrometheusConfig_PassesPromtoolWithLocalTargets()
    {
        var config = Tools.Run("bash", [Repo.PathOf("scripts/fleet-local.sh"), "prometheus-config"], TimeSpan.FromSeconds(30),
            environment: new Dictionary<string, string> { ["A1FLEET_GPU_HTTP_PORT"] = "18080", ["A1FLEET_AGENT_METRICS_PORT"] = "19464" });
        var file = Path.Combine(Path.GetTempPath(), $"a1fleet-local-{Guid.NewGuid():N}.yml");
        try
        {
            File.WriteAllText(file, config.StdOut);
            var check = Tools.Run(Tools.Require("promtool"), ["check", "config", file], TimeSpan.FromSeconds(30));

            Assert.Equal(0, config.ExitCode);
            Assert.True(check.ExitCode == 0, check + "\n" + config.StdOut);
            Assert.Contains("127.0.0.1:18080", config.StdOut, StringComparison.Ordinal);
            Assert.Contains("127.0.0.1:19467", config.StdOut, StringComparison.Ordinal);
            Assert.Contains("job_name: a1fleet-agent", config.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
