using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using Xunit.Abstractions;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// One model over several GPU silo processes (redis, real silos and agents): robots' requests land on every silo
/// serving the model, a silo started later takes a share with no setting changed, and after a SIGKILL of one silo
/// every agent keeps getting chunks from the survivors. One test, one cluster: starting silos is the slow part.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed partial class InferenceSpreadTests(ITestOutputHelper output) : IDisposable
{
    private const string Model = "tiny-fm";
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task GpuSilos_SpreadOneModelsRobots_ALaterSiloTakesAShareAndSurvivorsServeAfterAKill()
    {
        var package = ReferencePackages.Ensure(Model, _models);
        _cluster.StartRedis();
        int[] robotGateways = [ProcessCluster.FreePort(), ProcessCluster.FreePort(), ProcessCluster.FreePort()];
        var gatewayUrls = robotGateways.Select(ProcessCluster.RobotGatewayUrl).ToArray();
        var first = _cluster.StartSilo("silo-1", package, robotGateways[0]);
        var second = _cluster.StartSilo("silo-2", package, robotGateways[1]);
        await ProcessCluster.WaitReadyAsync(first, TimeSpan.FromSeconds(90));
        await ProcessCluster.WaitReadyAsync(second, TimeSpan.FromSeconds(90));

        // Ready means registered: both silos serve the model. Two robots whose rendezvous choice is each silo.
        var two = await Serving(second, 2);
        var robots = two.SelectMany(silo => Candidates().Where(r => ServingOrder.Of(r, two).First() == silo).Take(2)).ToList();
        foreach (var robot in robots)
        {
            await StartAgent(second, robot, gatewayUrls);
        }

        await WaitAsync(async () => (await Robots(second)).Count == robots.Count, TimeSpan.FromSeconds(60), "agents did not bind", second);
        var assign = await ProcessCluster.PostJson(second.Url, "/api/assignments", new { selector = "all", instruction = "pick up the red block", by = "test" });
        Assert.True(assign.IsSuccessStatusCode, await assign.Content.ReadAsStringAsync());
        await WaitAsync(async () => (await Robots(second)).All(r => r.Counters.Chunks >= 3), TimeSpan.FromSeconds(60), "agents were not served", second);
        Assert.True(await Requests(first) > 0, "silo-1 answered no request although robots chose it");
        Assert.True(await Requests(second) > 0, "silo-2 answered no request although robots chose it");

        // A third GPU silo, nothing configured: the robots whose choice it now is move to it. Should none of the four
        // prefer it (a one-in-five chance), a fifth robot that does is started, so the silo's share is always tested.
        var third = _cluster.StartSilo("silo-3", package, robotGateways[2]);
        await ProcessCluster.WaitReadyAsync(third, TimeSpan.FromSeconds(90));
        var three = await Serving(third, 3);
        var added = three.Except(two).Single();
        var movers = robots.Where(r => ServingOrder.Of(r, three).First() == added).ToList();
        output.WriteLine($"{movers.Count} of {robots.Count} robots prefer the added silo");
        if (movers.Count == 0)
        {
            var extra = Candidates().First(r => !robots.Contains(r) && ServingOrder.Of(r, three).First() == added);
            await StartAgent(third, extra, gatewayUrls);
            robots.Add(extra);
        }

        await WaitAsync(async () => await Requests(third) > 0, TimeSpan.FromSeconds(60), "the silo started later took no share of the model's requests", third);

        // SIGKILL silo-1: every agent keeps being served by the survivors, without anyone touching anything.
        await WaitAsync(async () => (await Robots(third)).Count == robots.Count && (await Robots(third)).All(r => r.Counters.Chunks >= 3),
            TimeSpan.FromSeconds(60), "every robot served before the kill", third);
        var before = (await Robots(third)).ToDictionary(r => r.RobotId, r => r.Counters.Chunks);
        var killedAt = Stopwatch.GetTimestamp();
        first.Process.KillHard();
        await WaitAsync(async () =>
        {
            var now = await Robots(third);
            return now.Count == robots.Count && now.All(r => r.Counters.Chunks >= before[r.RobotId] + 3);
        }, TimeSpan.FromSeconds(60), "agents were not served by the surviving silos after one was killed", third);
        var gap = Stopwatch.GetElapsedTime(killedAt);
        var failovers = await Counter(second, "a1fleet_inference_failovers_total") + await Counter(third, "a1fleet_inference_failovers_total");
        var hedges = await Counter(second, "a1fleet_inference_hedges_total") + await Counter(third, "a1fleet_inference_hedges_total");
        output.WriteLine($"every robot had 3 more chunks {gap.TotalSeconds:F1} s after SIGKILL of one of three GPU silos; " +
                         $"failovers {failovers}, hedges {hedges} counted on the survivors");
    }

    /// <summary>Robot ids unique to this run, in a fixed order.</summary>
    private IEnumerable<string> Candidates() => Enumerable.Range(0, 1000).Select(i => $"spread-{i}-{_cluster.ClusterId[^4..]}");

    private async Task StartAgent(SiloProcess silo, string robotId, IEnumerable<string> gateways)
    {
        var credential = await ProcessCluster.IssueRobotCredential(silo.Url, robotId);
        _cluster.StartAgent(robotId, Embodiment.Franka, Model, credential, gateways);
    }

    /// <summary>The model's serving silos once <paramref name="count"/> are listed.</summary>
    private static async Task<string[]> Serving(SiloProcess silo, int count)
    {
        string[] serving = [];
        await WaitAsync(async () =>
        {
            serving = (await ProcessCluster.GetJson<ModelInfo>(silo.Url, $"/api/models/{Model}")).ServingSilos ?? [];
            return serving.Length == count;
        }, TimeSpan.FromSeconds(60), $"{count} silos did not all register as serving {Model}", silo);
        return serving;
    }

    /// <summary>Requests the silo's inference grains answered for the model (its own /metrics: one silo's share).</summary>
    private static Task<double> Requests(SiloProcess silo) => Counter(silo, "a1fleet_inference_requests_total");

    /// <summary>The sum of a counter's series for the model on one silo's /metrics (also read by <see cref="InferenceHedgeTests"/>).</summary>
    internal static async Task<double> Counter(SiloProcess silo, string name)
    {
        using var http = ProcessCluster.CreateClient(silo, TimeSpan.FromSeconds(10));
        var text = await http.GetStringAsync("/metrics");
        return Series().Matches(text)
            .Where(m => m.Groups["name"].Value == name && m.Groups["labels"].Value.Contains($"model=\"{Model}\"", StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z0-9_:]+)\{(?<labels>[^}]*)\} (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex Series();

    private static Task<List<RobotStatus>> Robots(SiloProcess silo) => ProcessCluster.GetJson<List<RobotStatus>>(silo.Url, "/api/robots?selector=all");

    private static Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, SiloProcess silo) =>
        ProcessCluster.WaitUntilAsync(condition, timeout, failure, silo);

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
