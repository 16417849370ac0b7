using System.Diagnostics;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using Xunit.Abstractions;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// Production mode for real: redis-server, two silo processes (Redis membership and storage), one
/// agent process per arm kind. Kills a silo with SIGKILL mid-run and checks that no assignment or
/// robot state is lost and every agent is served again without anyone touching it.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class SiloFailoverTests(ITestOutputHelper output) : IDisposable
{
    private static readonly Embodiment[] Kinds = [Embodiment.Franka, Embodiment.AgiBot, Embodiment.OpenArm, Embodiment.Dobot];
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task KillSilo_AgentsServedAgainWithoutOperator_AndNoStateLost()
    {
        var model = ReferencePackages.Ensure("tiny-fm", _models);
        _cluster.StartRedis();
        // Agents know every silo's robot gateway from the start, the third silo's too (started later): they are
        // served through whichever answers, as behind a load balancer.
        int[] robotGateways = [ProcessCluster.FreePort(), ProcessCluster.FreePort(), ProcessCluster.FreePort()];
        var first = _cluster.StartSilo("silo-1", model, robotGateways[0]);
        var second = _cluster.StartSilo("silo-2", model, robotGateways[1]);
        await ProcessCluster.WaitReadyAsync(first, TimeSpan.FromSeconds(90));
        await ProcessCluster.WaitReadyAsync(second, TimeSpan.FromSeconds(90));

        var robots = Kinds.Select(k => $"{k.ToString().ToLowerInvariant()}-{_cluster.ClusterId[^4..]}").ToArray();
        for (var i = 0; i < robots.Length; i++)
        {
            var credential = await ProcessCluster.IssueRobotCredential(second.Url, robots[i]);
            _cluster.StartAgent(robots[i], Kinds[i], "tiny-fm", credential, robotGateways.Select(ProcessCluster.RobotGatewayUrl));
        }

        await WaitAsync(async () => (await Robots(second)).Count == robots.Length, TimeSpan.FromSeconds(60), "agents did not bind", second);
        var assign = await ProcessCluster.PostJson(second.Url, "/api/assignments", new { selector = "all", instruction = "pick up the red block", by = "test" });
        Assert.True(assign.IsSuccessStatusCode, await assign.Content.ReadAsStringAsync());
        var budget = await ProcessCluster.PostJson(second.Url, "/api/budget", new { selector = "embodiment:franka", budgetMs = 180.0 });
        Assert.True(budget.IsSuccessStatusCode, await budget.Content.ReadAsStringAsync());
        await WaitAsync(async () => (await Robots(second)).All(r => r.Counters.Chunks >= 3), TimeSpan.FromSeconds(60), "agents were not served", second);

        var before = (await Robots(second)).ToDictionary(r => r.RobotId);
        var killedAt = Stopwatch.GetTimestamp();
        first.Process.KillHard();

        // Served again = every robot's chunk count has grown by a few since the kill, as seen by the survivor.
        await WaitAsync(async () =>
        {
            var now = await Robots(second);
            return now.Count == robots.Length && now.All(r => r.Counters.Chunks >= before[r.RobotId].Counters.Chunks + 3);
        }, TimeSpan.FromSeconds(90), "agents were not served again after the silo was killed", second);
        var gap = Stopwatch.GetElapsedTime(killedAt);
        output.WriteLine($"every agent served again {gap.TotalSeconds:F1} s after SIGKILL of a silo");
        WriteFigure(gap);

        var after = (await Robots(second)).ToDictionary(r => r.RobotId);
        foreach (var id in robots)
        {
            Assert.Equal("pick up the red block", after[id].Task?.Instruction);
            Assert.Equal(before[id].Task?.Version, after[id].Task?.Version);
            Assert.Equal(before[id].Embodiment, after[id].Embodiment);
            Assert.False(after[id].EStopped);
        }

        Assert.Equal(180, after[robots[0]].LatencyBudgetMs);
        var assignments = await ProcessCluster.GetJson<List<Assignment>>(second.Url, "/api/assignments");
        Assert.Contains(assignments, a => a.Instruction == "pick up the red block" && a.Selector.Kind == RobotSelectorKind.All);

        // Replace the survivor too: every grain (robots, fleet, models) must now come back from Redis alone.
        var third = _cluster.StartSilo("silo-3", model, robotGateways[2]);
        await ProcessCluster.WaitReadyAsync(third, TimeSpan.FromSeconds(90));
        second.Process.KillHard();
        await WaitAsync(async () =>
        {
            var now = await Robots(third);
            return now.Count == robots.Length && now.All(r => r.Counters.Chunks >= after[r.RobotId].Counters.Chunks + 3);
        }, TimeSpan.FromSeconds(90), "agents were not served by a fresh silo after both originals died", third);
        var restored = (await Robots(third)).ToDictionary(r => r.RobotId);
        Assert.All(robots, id => Assert.Equal(before[id].Task?.Version, restored[id].Task?.Version));
        Assert.Equal(180, restored[robots[0]].LatencyBudgetMs);
        var models = await ProcessCluster.GetJson<List<ModelInfo>>(third.Url, "/api/models");
        Assert.Contains(models, m => m.ModelId == "tiny-fm" && m.LiveVersion is not null && m.Versions.Count == 4);
    }

    private static Task<List<RobotStatus>> Robots(SiloProcess silo) => ProcessCluster.GetJson<List<RobotStatus>>(silo.Url, "/api/robots?selector=all");

    private static Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, SiloProcess silo) =>
        ProcessCluster.WaitUntilAsync(condition, timeout, failure, silo);

    private static void WriteFigure(TimeSpan gap)
    {
        var dir = Path.Combine(ProcessCluster.RepositoryRoot, "artifacts", "test-figures");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "silo-failover.txt"), $"every agent served again {gap.TotalSeconds:F1} s after SIGKILL of one of two silos ({DateTimeOffset.UtcNow:u})\n");
    }

    public void Dispose()
    {
        _cluster.Dispose();
        try
        {
            Directory.Delete(_models, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
