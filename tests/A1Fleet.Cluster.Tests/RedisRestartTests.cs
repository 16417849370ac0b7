using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using Xunit.Abstractions;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// Redis restarted under a running fleet (SIGTERM, then a new redis-server on the same port and data
/// directory, as a service manager or a rescheduled pod does): /health/ready says so while it is down,
/// and afterwards nothing is lost and everything is served again without anyone touching a silo or an agent.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class RedisRestartTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task RestartRedis_StateKeptAndEveryoneServedAgain_ReadyFailsWhileDown()
    {
        var model = ReferencePackages.Ensure("tiny-fm", _models);
        _cluster.StartRedis();
        var first = _cluster.StartSilo("silo-1", model);
        var second = _cluster.StartSilo("silo-2", model);
        await ProcessCluster.WaitReadyAsync(first, TimeSpan.FromSeconds(90));
        await ProcessCluster.WaitReadyAsync(second, TimeSpan.FromSeconds(90));

        // Internal ports: every socket a silo listens on is on loopback, none on every interface.
        foreach (var silo in new[] { first, second })
        {
            var listeners = ProcessCluster.ListeningAddresses(silo.Process.Id);
            Assert.Contains(listeners, l => l.EndsWith($":{silo.SiloPort}", StringComparison.Ordinal));
            Assert.Contains(listeners, l => l.EndsWith($":{silo.GatewayPort}", StringComparison.Ordinal));
            Assert.All(listeners, l => Assert.StartsWith("127.0.0.1:", l, StringComparison.Ordinal));
        }

        var suffix = _cluster.ClusterId[^4..];
        var moving = $"franka-{suffix}";
        var stopped = $"agibot-{suffix}";
        // The third silo's gateway too, started later: agents are served through whichever answers.
        var thirdGateway = ProcessCluster.FreePort();
        string[] gateways = [first.RobotGatewayUrl, second.RobotGatewayUrl, ProcessCluster.RobotGatewayUrl(thirdGateway)];
        _cluster.StartAgent(moving, Embodiment.Franka, "tiny-fm", await ProcessCluster.IssueRobotCredential(second.Url, moving), gateways);
        _cluster.StartAgent(stopped, Embodiment.AgiBot, "tiny-fm", await ProcessCluster.IssueRobotCredential(second.Url, stopped), gateways);
        await WaitAsync(async () => (await Robots(second)).Count == 2, TimeSpan.FromSeconds(60), "agents did not bind", second);

        await Ok(ProcessCluster.PostJson(second.Url, "/api/assignments", new { selector = "all", instruction = "stack the cups", by = "test" }));
        await Ok(ProcessCluster.PostJson(second.Url, "/api/budget", new { selector = $"robot:{moving}", budgetMs = 180.0 }));
        await WaitAsync(async () => (await Robots(second)).All(r => r.Counters.Chunks >= 3), TimeSpan.FromSeconds(60), "agents were not served", second);
        await Ok(ProcessCluster.PostJson(second.Url, "/api/estop", new { selector = $"robot:{stopped}", by = "test" }));
        await WaitAsync(async () => (await Robots(second)).Single(r => r.RobotId == stopped).EStopped, TimeSpan.FromSeconds(20), "the e-stop did not take", second);
        var before = (await Robots(second)).ToDictionary(r => r.RobotId);

        // Down: both silos stop reporting ready within a few seconds.
        _cluster.StopRedis();
        var downAt = Stopwatch.GetTimestamp();
        await WaitAsync(async () => await ReadyStatus(first) == HttpStatusCode.ServiceUnavailable && await ReadyStatus(second) == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(15), "/health/ready did not turn 503 with redis down", second);
        output.WriteLine($"/health/ready 503 on both silos {Stopwatch.GetElapsedTime(downAt).TotalSeconds:F1} s after redis-server stopped");

        // Back on the same port and data directory: ready again, and the agents already bound are served again.
        _cluster.StartRedis();
        var upAt = Stopwatch.GetTimestamp();
        await WaitAsync(async () => await ReadyStatus(first) == HttpStatusCode.OK && await ReadyStatus(second) == HttpStatusCode.OK,
            TimeSpan.FromSeconds(60), "/health/ready did not return to 200 after redis-server came back", second);
        var readyAfter = Stopwatch.GetElapsedTime(upAt);
        await WaitAsync(async () => (await Robots(second)).Single(r => r.RobotId == moving).Counters.Chunks >= before[moving].Counters.Chunks + 3,
            TimeSpan.FromSeconds(90), "the bound agent was not served again after the redis restart", second);
        var servedAfter = Stopwatch.GetElapsedTime(upAt);

        // A new agent process binds and is served.
        var newcomer = $"openarm-{suffix}";
        _cluster.StartAgent(newcomer, Embodiment.OpenArm, "tiny-fm", await ProcessCluster.IssueRobotCredential(second.Url, newcomer), gateways);
        await WaitAsync(async () => (await Robots(second)).Any(r => r.RobotId == newcomer), TimeSpan.FromSeconds(60), "a new agent could not bind after the redis restart", second);
        await Ok(ProcessCluster.PostJson(second.Url, "/api/assignments", new { selector = $"robot:{newcomer}", instruction = "wipe the table", by = "test" }));
        await WaitAsync(async () => (await Robots(second)).Single(r => r.RobotId == newcomer).Counters.Chunks >= 3,
            TimeSpan.FromSeconds(60), "the new agent was not served after the redis restart", second);
        var newAgentServed = Stopwatch.GetElapsedTime(upAt);
        output.WriteLine($"after redis-server restarted: ready {readyAfter.TotalSeconds:F1} s, bound agent served again {servedAfter.TotalSeconds:F1} s, new agent bound and served {newAgentServed.TotalSeconds:F1} s");
        WriteFigure(readyAfter, servedAfter, newAgentServed);

        // Nothing lost, and the grains' state now round-trips through the restarted Redis: a fresh silo
        // takes over from both originals and reads every robot back from it.
        var third = _cluster.StartSilo("silo-3", model, thirdGateway);
        await ProcessCluster.WaitReadyAsync(third, TimeSpan.FromSeconds(90));
        // One at a time: a silo alone with two silos gone at once cannot confirm either death by an
        // indirect probe, so Orleans would wait on them; that is failover, not what this test is about.
        foreach (var silo in new[] { first, second })
        {
            var served = (await Robots(third)).Single(r => r.RobotId == moving).Counters.Chunks;
            silo.Process.KillHard();
            await WaitAsync(async () => (await Robots(third)).Single(r => r.RobotId == moving).Counters.Chunks >= served + 3,
                TimeSpan.FromSeconds(90), $"the agent was not served by a fresh silo after {silo.Process.Name} was killed", third);
        }

        var restored = (await Robots(third)).ToDictionary(r => r.RobotId);
        Assert.True(restored[stopped].EStopped, "the e-stop was lost in the redis restart");
        Assert.Equal(before[stopped].Counters.Chunks, restored[stopped].Counters.Chunks);
        Assert.Equal(before[moving].Task?.Version, restored[moving].Task?.Version);
        Assert.Equal("stack the cups", restored[moving].Task?.Instruction);
        Assert.Equal(180, restored[moving].LatencyBudgetMs);
        Assert.Equal("wipe the table", restored[newcomer].Task?.Instruction);
        var assignments = await ProcessCluster.GetJson<List<Assignment>>(third.Url, "/api/assignments");
        Assert.Contains(assignments, a => a.Instruction == "stack the cups" && a.Selector.Kind == RobotSelectorKind.All);
    }

    [Fact]
    public async Task RestartRedisEmpty_Ready503_TheMembershipTableCheckSaysWhy()
    {
        var model = ReferencePackages.Ensure("tiny-fm", _models);
        _cluster.StartRedis();
        var silo = _cluster.StartSilo("silo-1", model, gpu: false);
        await ProcessCluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(90));

        _cluster.StopRedis();
        _cluster.ClearRedisData();
        _cluster.StartRedis();

        // Once the silo sees Redis answer again, the only thing wrong is the lost membership entry.
        await WaitAsync(async () => (string?)(await ReadyReport(silo))["checks"]?["redis"]?["status"] == "Healthy",
            TimeSpan.FromSeconds(60), "the silo did not see redis-server answer again", silo);
        var report = await ReadyReport(silo);
        output.WriteLine(report.ToJsonString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await ReadyStatus(silo));
        Assert.Equal("Unhealthy", (string?)report["status"]);
        Assert.Equal("Unhealthy", (string?)report["checks"]!["membership-table"]!["status"]);
    }

    private static async Task<JsonObject> ReadyReport(SiloProcess silo)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // 503 carries the same report as 200: read the body whatever the status.
        using var response = await http.GetAsync(silo.Url + "/health/ready");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private static Task<List<RobotStatus>> Robots(SiloProcess silo) => ProcessCluster.GetJson<List<RobotStatus>>(silo.Url, "/api/robots?selector=all");

    private static async Task<HttpStatusCode> ReadyStatus(SiloProcess silo)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return (await http.GetAsync(silo.Url + "/health/ready")).StatusCode;
    }

    private static async Task Ok(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.IsSuccessStatusCode, $"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, SiloProcess silo) =>
        ProcessCluster.WaitUntilAsync(condition, timeout, failure, silo);

    private static void WriteFigure(TimeSpan ready, TimeSpan served, TimeSpan newAgent)
    {
        var dir = Path.Combine(ProcessCluster.RepositoryRoot, "artifacts", "test-figures");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "redis-restart.txt"),
            $"after redis-server restarted (AOF, 2 silos): ready {ready.TotalSeconds:F1} s, bound agent served again {served.TotalSeconds:F1} s, new agent served {newAgent.TotalSeconds:F1} s ({DateTimeOffset.UtcNow:u})\n");
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
