using System.Text.Json.Nodes;
using A1Fleet.Bench.SimFleet;

namespace A1Fleet.Bench.Tests.SimFleet;

/// <summary>
/// The multi-silo simulated bench end to end at a small size (2 silos, 40 robots, a few seconds a phase): real
/// redis-server and silo processes, robots through the gateway. Checks the stable keys and that the values are
/// measured and sane, never how fast anything was.
/// </summary>
public sealed class SimFleetBenchmarkTests : IDisposable
{
    private static readonly string[] StableKeys =
    [
        "scaleout_efficiency_4_silos", "within_budget_share_1000_robots_simulated", "failover_gap_ms_p99", "failover_holds_buffered_robots",
        "goodput_per_second_1_silo", "goodput_per_second_n_silos", "robots_simulated", "failover_buffered_robots_at_kill", "failover_robots",
        "scaleout_time_scale", "crowd_time_scale", "silos", "load_average_at_start", "load_average_at_end", "rows",
    ];

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"a1-simfleet-bench-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task RunAsync_SmallConfiguration_WritesEveryStableKeyWithMeasuredValues()
    {
        var sizes = new SimFleetSizes(Silos: 2, SaturationFactor: 1, ScaleoutTimeScale: 10, ScaleoutWarmup: 0.5, ScaleoutMeasure: 1,
            CrowdRobots: 40, CrowdTimeScale: 10, CrowdSpeedup: 4, CrowdWarmup: 0.5, CrowdMeasure: 1, FailoverRobots: 6, FailoverSpeedup: 4, FailoverWarmup: 3, FailoverWindow: 4);
        var output = Path.Combine(_root, "bench");

        var json = await SimFleetBenchmark.RunAsync(sizes, quick: true, output, Path.Combine(_root, "models"), "test", TextWriter.Null);

        var written = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "simfleet.json")))!.AsObject();
        Assert.True(json is not null, $"the run failed: {written["error_detail"] ?? written["error"]}");
        Assert.All(StableKeys, k => Assert.True(written.ContainsKey(k), $"{k} missing from {written.ToJsonString()}"));
        Assert.False(written.ContainsKey("error"), written.ToJsonString());
        Assert.Equal(2, (int)written["silos"]!);
        Assert.Equal(40, (int)written["robots_simulated"]!);
        Assert.InRange((double)written["scaleout_efficiency_4_silos"]!, 0.01, 10);
        Assert.InRange((double)written["within_budget_share_1000_robots_simulated"]!, 0, 1);
        Assert.InRange((double)written["failover_gap_ms_p99"]!, 0, 60_000);
        Assert.InRange((int)written["failover_holds_buffered_robots"]!, 0, (int)written["failover_buffered_robots_at_kill"]!);
        Assert.InRange((int)written["failover_robots"]!, 4, 6);
        Assert.InRange((int)written["failover_buffered_robots_at_kill"]!, 0, (int)written["failover_robots"]!);
        var rows = written["rows"]!.AsArray();
        Assert.Equal(["scaleout", "scaleout", "crowd", "failover"], rows.Select(r => (string)r!["phase"]!));
        // Every phase was served: robots got answers through the gateways.
        Assert.All(rows, r => Assert.True((int)r!["answered"]! > 0, r!.ToJsonString()));
        Assert.All(rows, r => Assert.InRange((double)r!["answered_share"]!, 0.0001, 1));
    }
}
