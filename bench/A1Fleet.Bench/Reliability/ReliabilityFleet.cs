using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using A1Fleet.Grains;
using A1Fleet.ProcessHarness;

namespace A1Fleet.Bench.Reliability;

/// <summary>
/// The fleet the reliability scenarios run against, all real processes on loopback: redis-server with AOF, two silo
/// processes (Redis clustering and storage, the bootstrap admin key, a robot gateway port each) and one a1-agent per
/// robot on both gateways with an operator-issued credential. Silos killed by a scenario are restarted on the same
/// robot gateway port, so agents configured with both gateways find them again.
/// </summary>
internal sealed class ReliabilityFleet : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly Embodiment[] Kinds = [Embodiment.Franka, Embodiment.AgiBot, Embodiment.OpenArm, Embodiment.Dobot];
    private readonly HttpClient _local = new() { Timeout = TimeSpan.FromSeconds(3) };
    private readonly HashSet<ManagedProcess> _killedOnPurpose = [];
    private int _siloStarts;

    public ReliabilityFleet(string modelPackage, string modelId)
    {
        ModelPackage = modelPackage;
        ModelId = modelId;
        GatewayPorts = [ProcessCluster.FreePort(), ProcessCluster.FreePort()];
    }

    public ProcessCluster Cluster { get; } = new();

    public string ModelPackage { get; }

    public string ModelId { get; }

    public int[] GatewayPorts { get; }

    public IEnumerable<string> GatewayUrls => GatewayPorts.Select(ProcessCluster.RobotGatewayUrl);

    /// <summary>The silo serving each gateway port; a slot is replaced when its silo is restarted.</summary>
    public SiloProcess[] Silos { get; } = new SiloProcess[2];

    public List<BenchAgent> Agents { get; } = [];

    /// <summary>Every silo process ever started, to tell a crash from a kill of ours.</summary>
    public List<SiloProcess> AllSilos { get; } = [];

    /// <summary>Driver limit violations of agents this run killed, read just before the kill (their counters die with them).</summary>
    public long ViolationsOfKilledAgents { get; private set; }

    public SiloProcess Any => Silos.First(s => !s.Process.HasExited);

    public async Task StartAsync(int agents, TextWriter log)
    {
        Cluster.StartRedis();
        Silos[0] = StartSilo(0);
        Silos[1] = StartSilo(1);
        await Task.WhenAll(Silos.Select(s => ProcessCluster.WaitReadyAsync(s, TimeSpan.FromSeconds(120))));
        log.WriteLine($"  redis :{Cluster.RedisPort} (AOF in {Cluster.RedisDataDirectory}), silos {Silos[0].Url} {Silos[1].Url}, robot gateways {string.Join(' ', GatewayUrls)}");

        for (var i = 0; i < agents; i++)
        {
            var kind = Kinds[i % Kinds.Length];
            var robotId = $"{kind.ToString().ToLowerInvariant()}-{i + 1:D2}";
            var credential = await ProcessCluster.IssueRobotCredential(Silos[i % 2].Url, robotId);
            var agent = new BenchAgent(robotId, kind, credential);
            StartAgentProcess(agent);
            Agents.Add(agent);
        }
    }

    public SiloProcess StartSilo(int slot)
    {
        var silo = Cluster.StartSilo($"silo-{slot + 1}-{++_siloStarts}", ModelPackage, GatewayPorts[slot]);
        Silos[slot] = silo;
        AllSilos.Add(silo);
        return silo;
    }

    public async Task RestartSiloAsync(int slot)
    {
        StartSilo(slot);
        await ProcessCluster.WaitReadyAsync(Silos[slot], TimeSpan.FromSeconds(120));
    }

    public void KillSilo(int slot)
    {
        _killedOnPurpose.Add(Silos[slot].Process);
        Silos[slot].Process.KillHard();
    }

    public void StartAgentProcess(BenchAgent agent)
    {
        agent.MetricsPort = ProcessCluster.FreePort();
        agent.Process = Cluster.StartAgent(agent.RobotId, agent.Embodiment, ModelId, agent.Credential, GatewayUrls, agent.MetricsPort);
    }

    public async Task KillAgentAsync(BenchAgent agent)
    {
        if (await TryStatusAsync(agent) is { } last)
        {
            ViolationsOfKilledAgents += last.DriverLimitViolations;
        }

        _killedOnPurpose.Add(agent.Process!);
        agent.Process!.KillHard();
    }

    /// <summary>Silo processes that exited without this run killing them.</summary>
    public IReadOnlyList<SiloProcess> CrashedSilos() => AllSilos.Where(s => s.Process.HasExited && !_killedOnPurpose.Contains(s.Process)).ToList();

    public IReadOnlyList<BenchAgent> CrashedAgents() => Agents.Where(a => a.Process is { HasExited: true } p && !_killedOnPurpose.Contains(p)).ToList();

    public async Task<AgentLocalStatus?> TryStatusAsync(BenchAgent agent)
    {
        try
        {
            return await _local.GetFromJsonAsync<AgentLocalStatus>($"http://127.0.0.1:{agent.MetricsPort}/local/status", Json);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    public async Task<Dictionary<string, AgentLocalStatus?>> StatusesAsync() =>
        (await Task.WhenAll(Agents.Select(async a => (a.RobotId, Status: await TryStatusAsync(a))))).ToDictionary(x => x.RobotId, x => x.Status);

    /// <summary>Chunks each agent has executed, as the agent counts them; -1 for one that does not answer.</summary>
    public async Task<Dictionary<string, long>> ChunksAsync() =>
        (await StatusesAsync()).ToDictionary(kv => kv.Key, kv => kv.Value?.ChunksExecuted ?? -1);

    /// <summary>Served = the agent executed at least <paramref name="more"/> chunks beyond <paramref name="before"/> (agent-side count).</summary>
    public async Task<bool> AllServedSinceAsync(IReadOnlyDictionary<string, long> before, int more, IEnumerable<string>? robots = null)
    {
        var now = await StatusesAsync();
        return (robots ?? before.Keys).All(id => now[id] is { EStopped: false, LocalStop: false } s && s.ChunksExecuted >= Math.Max(before[id], 0) + more);
    }

    public static HttpClient Api(SiloProcess silo, TimeSpan timeout) => ProcessCluster.ApiClient(silo.Url, timeout);

    public static async Task<List<RobotStatus>> RobotsAsync(SiloProcess silo)
    {
        using var http = Api(silo, TimeSpan.FromSeconds(10));
        return (await http.GetFromJsonAsync<List<RobotStatus>>("/api/robots?selector=all", Json))!;
    }

    public static async Task<JsonElement> PostAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsJsonAsync(path, body, Json);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {http.BaseAddress}{path.TrimStart('/')} answered {(int)response.StatusCode}: {text}");
        }

        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls <paramref name="condition"/> (exceptions count as not yet) until true or the timeout; the time it took, or null.</summary>
    public static async Task<TimeSpan?> WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? poll = null)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return Stopwatch.GetElapsedTime(started);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
            {
            }

            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                return null;
            }

            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(100));
        }
    }

    public void Dispose()
    {
        _local.Dispose();
        Cluster.Dispose();
    }
}

internal sealed class BenchAgent(string robotId, Embodiment embodiment, string credential)
{
    public string RobotId { get; } = robotId;

    public Embodiment Embodiment { get; } = embodiment;

    public string Credential { get; } = credential;

    public int MetricsPort { get; set; }

    public ManagedProcess? Process { get; set; }
}

/// <summary>What an a1-agent's loopback GET /local/status answers (robot-agent/A1Fleet.RobotAgent/AgentWebExtensions.cs, LocalStopState).</summary>
internal sealed record AgentLocalStatus(
    string RobotId,
    bool LocalStop,
    bool EStopped,
    long EStopGeneration,
    string Phase,
    DateTimeOffset? EStopLatchedAt,
    long ChunksExecuted,
    long Requests,
    long RequestFailures,
    long DriverLimitViolations,
    string? EStopRoute = null);
