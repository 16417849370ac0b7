using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// An e-stop sent 0.3 s after a silo was SIGKILLed, by operators whose API keys' grains are spread over both silos:
/// the key check of a key whose grain died with the silo must wait out the failover, not answer a bare 500 before
/// the e-stop's own retries start (what the reliability bench found). Eight keys, so that with two silos the chance
/// that no key's grain was on the killed one is about 1 in 256.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class EStopAfterSiloKillTests : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task EStop_RightAfterSiloKill_EveryOperatorGetsEveryRobotConfirmed()
    {
        var model = ReferencePackages.Ensure("tiny-fm", _models);
        _cluster.StartRedis();
        int[] gateways = [ProcessCluster.FreePort(), ProcessCluster.FreePort()];

        // The e-stop's deadline is 20 s; the key check may wait as long, so only a real failure ends it early.
        var first = _cluster.StartSilo("silo-1", model, gateways[0], true, "--A1Fleet:Security:KeyCheckRetryTimeout 00:00:20");
        var second = _cluster.StartSilo("silo-2", model, gateways[1], true, "--A1Fleet:Security:KeyCheckRetryTimeout 00:00:20");
        await ProcessCluster.WaitReadyAsync(first, TimeSpan.FromSeconds(90));
        await ProcessCluster.WaitReadyAsync(second, TimeSpan.FromSeconds(90));

        string[] robots = [$"franka-{_cluster.ClusterId[^4..]}", $"dobot-{_cluster.ClusterId[^4..]}"];
        _cluster.StartAgent(robots[0], Embodiment.Franka, "tiny-fm", await ProcessCluster.IssueRobotCredential(second.Url, robots[0]), gateways.Select(ProcessCluster.RobotGatewayUrl));
        _cluster.StartAgent(robots[1], Embodiment.Dobot, "tiny-fm", await ProcessCluster.IssueRobotCredential(second.Url, robots[1]), gateways.Select(ProcessCluster.RobotGatewayUrl));
        await WaitAsync(async () => (await ProcessCluster.GetJson<List<RobotStatus>>(second.Url, "/api/robots?selector=all")).Count(r => r.Online) == 2,
            "agents did not bind", second);

        // Keys made and used through both silos, so their grains activate on either.
        var keys = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var silo = i % 2 == 0 ? first : second;
            using var created = await ProcessCluster.PostJson(silo.Url, "/api/keys", new { name = $"operator-{i}", role = "operator" });
            var body = await created.Content.ReadAsStringAsync();
            Assert.True(created.IsSuccessStatusCode, body);
            var key = JsonDocument.Parse(body).RootElement.GetProperty("key").GetString()!;
            using var read = Client(silo, key);
            (await read.GetAsync("/api/robots?selector=all")).EnsureSuccessStatusCode();
            keys.Add(key);
        }

        first.Process.KillHard();
        await Task.Delay(300);
        var answers = await Task.WhenAll(keys.Select(async key =>
        {
            using var http = Client(second, key);
            using var response = await http.PostAsJsonAsync("/api/estop", new { selector = "all", deadlineMs = 20_000.0 }, Json);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.All(answers, answer =>
        {
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{(int)answer.StatusCode}: {answer.Body}\n{second.Process.Output}");
            var report = JsonSerializer.Deserialize<SafetyCommandReport>(answer.Body, Json)!;
            Assert.True(report.AllConfirmed, answer.Body);
            Assert.Equal(robots.Order(), report.Robots.Select(r => r.RobotId).Order());
        });
    }

    private static HttpClient Client(SiloProcess silo, string key)
    {
        var http = new HttpClient { BaseAddress = new Uri(silo.Url), Timeout = TimeSpan.FromSeconds(40) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static Task WaitAsync(Func<Task<bool>> condition, string failure, SiloProcess silo) =>
        ProcessCluster.WaitUntilAsync(condition, TimeSpan.FromSeconds(60), failure, silo);

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
