using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Dashboards;

/// <summary>
/// A running fleet scraped by a real Prometheus, all on loopback: the fleet demo (one silo with four
/// simulated arms on tiny-fm) plus one robot-agent process bound to it with its own metrics port, and a
/// Prometheus scraping both every second with the alert rules of dashboards/prometheus. Operator
/// commands are sent so that the event series exist: an e-stop and resume (holds, operator commands)
/// and a first-exit-time budget on one robot (budget misses). Everything it started is killed on dispose.
/// </summary>
public sealed class LiveFleetFixture : IAsyncLifetime, IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(150);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly List<ChildProcess> _processes = [];
    /// <summary>The demo's bootstrap admin key: the operator API refuses calls without a key.</summary>
    private static readonly string AdminKey =
        $"a1k_{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}_{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}";

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10), DefaultRequestHeaders = { Authorization = new("Bearer", AdminKey) } };
    private string? _workDir;
    private DateTimeOffset? _queryTime;

    /// <summary>Null when prometheus is not installed (the tests that use the fixture are skipped then).</summary>
    public string? PrometheusUrl { get; private set; }

    public string SiloUrl { get; private set; } = "";

    public string AgentMetricsUrl { get; private set; } = "";

    public string GeneratedConfig { get; private set; } = "";

    public ToolResult? PromtoolCheck { get; private set; }

    /// <summary>Why the robot-agent process did not serve its metrics; null when it did.</summary>
    public string? AgentProblem { get; private set; }

    /// <summary>The /metrics text of each process, taken after Prometheus has its data.</summary>
    public IReadOnlyDictionary<string, string> Scrapes { get; private set; } = new Dictionary<string, string>();

    public IReadOnlySet<string> ExportedNames { get; private set; } = new HashSet<string>();

    public async Task InitializeAsync()
    {
        if (Tools.Find("prometheus") is not { } prometheus || Tools.Find("promtool") is not { } promtool)
        {
            return;
        }

        _workDir = Path.Combine(Path.GetTempPath(), "a1fleet-deployment-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_workDir);
        var deadline = DateTime.UtcNow + StartTimeout;

        var (http, siloPort, gateway, agentMetrics, promPort) = (FreePort(), FreePort(), FreePort(), FreePort(), FreePort());
        var (robotGateway, openPi, a1Http) = (FreePort(), FreePort(), FreePort());
        SiloUrl = $"http://127.0.0.1:{http}";
        AgentMetricsUrl = $"http://127.0.0.1:{agentMetrics}/metrics";
        var demo = Start("fleet-demo", "dotnet", Repo.BuiltDll("demo/A1Fleet.Demo", "A1Fleet.Demo.dll"),
            "fleet", "--agents", "4", "--model", "tiny-fm", "--duration", "240", "--urls", SiloUrl,
            "--models", Path.Combine(_workDir, "models"),
            $"--A1Fleet:Silo:SiloPort={siloPort}", $"--A1Fleet:Silo:GatewayPort={gateway}", $"--A1Fleet:RobotGateway:Port={robotGateway}",
            $"--A1Fleet:Compat:OpenPiPort={openPi}", $"--A1Fleet:Compat:A1HttpPort={a1Http}",
            "--Logging:LogLevel:Default=Warning",
            $"--A1Fleet:Security:BootstrapAdminKey={AdminKey}",
            // The API's floor (5 ms by default) is lowered so the model's own first-exit time is the bound (below).
            "--A1Fleet:Api:MinLatencyBudgetMs=0.01");
        await WaitAsync(demo, deadline, "the demo's /health/ready", async () => (await _http.GetAsync(SiloUrl + "/health/ready")).IsSuccessStatusCode);
        await WaitAsync(demo, deadline, "4 robots bound with tasks", async () =>
            (await _http.GetFromJsonAsync<JsonArray>(SiloUrl + "/api/robots", Json))!.Count(r => r?["task"] is JsonObject) >= 4);

        // The agent process is the a1fleet-agent scrape target. If it cannot serve its metrics, the fleet still runs
        // for the dashboard tests and RobotAgentProcess_MetricsPort_ServesTheAgentMeter reports why.
        try
        {
            // The agent process reaches the demo's silo through its robot gateway, with a credential issued for its robot.
            var issued = await _http.PostAsJsonAsync(SiloUrl + "/api/robots/ext-franka-01/credentials", new { name = "deployment-test" });
            var credential = (string?)(await issued.Content.ReadFromJsonAsync<JsonObject>(Json))?["key"]
                ?? throw new InvalidOperationException($"issuing a robot credential answered {(int)issued.StatusCode}");
            var credentialFile = Path.Combine(_workDir, "ext-franka-01.key");
            await File.WriteAllTextAsync(credentialFile, credential);
            var agent = Start("robot-agent", "dotnet", Repo.BuiltDll("robot-agent/A1Fleet.RobotAgent", Docker.Dockerfile.AssemblyOf("robot-agent/A1Fleet.RobotAgent/A1Fleet.RobotAgent.csproj")),
                "--gateway", $"http://127.0.0.1:{robotGateway.ToString(CultureInfo.InvariantCulture)}", "--credential-file", credentialFile, "--robot-id", "ext-franka-01",
                "--embodiment", "franka", "--model", "tiny-fm", "--metrics-port", agentMetrics.ToString(CultureInfo.InvariantCulture),
                "--status-interval", "0");
            var agentDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(45) < deadline ? DateTime.UtcNow + TimeSpan.FromSeconds(45) : deadline;
            await WaitAsync(agent, agentDeadline, $"the agent's metrics on {AgentMetricsUrl}", async () =>
                (await _http.GetStringAsync(AgentMetricsUrl)).Contains("a1fleet_agent_control_ticks_total", StringComparison.Ordinal));
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidOperationException or TimeoutException or HttpRequestException or System.Text.Json.JsonException)
        {
            AgentProblem = ex.Message;
        }

        GeneratedConfig = Path.Combine(_workDir, "prometheus.yml");
        await File.WriteAllTextAsync(GeneratedConfig, $$"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
              - {{Repo.PathOf("dashboards/prometheus/alerts.yml")}}
            scrape_configs:
              - job_name: a1fleet-silo
                static_configs:
                  - targets: ["127.0.0.1:{{http}}"]
              - job_name: a1fleet-agent
                static_configs:
                  - targets: ["127.0.0.1:{{agentMetrics}}"]
            """);
        PromtoolCheck = Tools.Run(promtool, ["check", "config", GeneratedConfig], TimeSpan.FromSeconds(30));
        PrometheusUrl = $"http://127.0.0.1:{promPort}";
        var prom = Start("prometheus", prometheus, $"--config.file={GeneratedConfig}", $"--storage.tsdb.path={Path.Combine(_workDir, "tsdb")}",
            $"--web.listen-address=127.0.0.1:{promPort}", "--log.level=warn");
        await WaitAsync(prom, deadline, "Prometheus ready", async () => (await _http.GetAsync(PrometheusUrl + "/-/ready")).IsSuccessStatusCode);

        // Operator commands through the API, as an operator would send them: they create the event series.
        var robots = (await _http.GetFromJsonAsync<JsonArray>(SiloUrl + "/api/robots", Json))!.Select(r => (string)r!["robotId"]!).Order(StringComparer.Ordinal).ToList();
        await PostAsync("/api/estop", new { selector = "robot:" + robots[1] });
        // The tightest budget the API accepts: the model's first exit on an idle silo at batch 1, which queueing
        // and batching with three other robots exceed: such requests are refused at once rather than answered late,
        // so the refusal series appears (docs/fleet.md, "Deadlines under load").
        var firstExitMs = (double)(await _http.GetFromJsonAsync<JsonObject>(SiloUrl + "/api/models/tiny-fm", Json))!["firstExitMs"]!;
        await PostAsync("/api/budget", new { selector = "robot:" + robots[0], budgetMs = Math.Ceiling(firstExitMs * 100) / 100 });
        await WaitAsync(demo, deadline, "holds while e-stopped", async () => await SeriesCountAsync("a1fleet_robot_holds_total") > 0);
        await PostAsync("/api/resume", new { selector = "robot:" + robots[1] });

        // A calibration job on the cluster: its progress gauges feed the calibration dashboard.
        await PostAsync("/api/calibrations", new { modelId = "tiny-fm", dataset = Repo.PathOf("calibration-jobs/datasets/tiny-fm-sim"), shards = 2, rs = Enumerable.Repeat(1.0, 1), jobId = "deployment-test" });
        await WaitAsync(demo, deadline, "the calibration job to complete", async () =>
            (await _http.GetFromJsonAsync<JsonObject>(SiloUrl + "/api/calibrations/deployment-test", Json))!["state"]?.ToString() is "Completed" or "1");

        // Enough scrapes after the commands for every rate window ($__rate_interval = 15 s) and every rule evaluated.
        await WaitAsync(prom, deadline, "20 scrapes after the operator commands", async () =>
            await ScalarAsync("min(count_over_time(a1fleet_operator_commands_total{command=\"resume\"}[1m]))") >= 20 &&
            await ScalarAsync("min(count_over_time(up{job=\"a1fleet-agent\"}[1m]))") >= 20 &&
            await ScalarAsync("count(a1fleet_inference_refusals_total)") >= 1);

        // Tests query one moment at which Prometheus's latest scrape of every target had succeeded. On a loaded machine a
        // scrape can outlast its 1 s timeout; Prometheus then marks the target's series stale, and a query of "now" made
        // just after it would find none, though the fleet exports them. The moment lies further back than a scrape takes
        // (its samples bear the time it began), so what Prometheus answers for it no longer changes, and after the
        // moment the conditions above held.
        var targets = AgentProblem is null ? 2 : 1;
        var settled = TimeSpan.FromSeconds(3);
        await Task.Delay(settled);
        await WaitAsync(prom, deadline, $"a moment when the last scrape of all {targets} targets succeeded", async () =>
        {
            _queryTime = DateTimeOffset.UtcNow - settled;
            if (await ScalarAsync("count(up == 1)") == targets)
            {
                return true;
            }

            _queryTime = null;
            return false;
        });

        var scrapes = new Dictionary<string, string> { ["fleet demo"] = await _http.GetStringAsync(SiloUrl + "/metrics") };
        if (AgentProblem is null)
        {
            scrapes["robot agent"] = await _http.GetStringAsync(AgentMetricsUrl);
        }

        Scrapes = scrapes;
        ExportedNames = scrapes.Values.SelectMany(MetricNamesOf).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>An instant query, at the moment <see cref="InitializeAsync"/> chose once Prometheus had its data (before that, now).</summary>
    public async Task<JsonObject> QueryAsync(string expr)
    {
        var at = _queryTime is { } t ? "&time=" + (t.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture) : "";
        var response = await _http.GetAsync($"{PrometheusUrl}/api/v1/query?query={Uri.EscapeDataString(expr)}{at}");
        var body = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(body)?.AsObject() ?? throw new InvalidDataException($"Prometheus answered '{body}' to {expr}");
    }

    public async Task<JsonObject> GetAsync(string pathAndQuery)
    {
        var body = await _http.GetStringAsync(PrometheusUrl + pathAndQuery);
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>GET on the demo's operator API with its admin key.</summary>
    public async Task<JsonNode> ApiAsync(string pathAndQuery) =>
        JsonNode.Parse(await _http.GetStringAsync(SiloUrl + pathAndQuery)) ?? throw new InvalidDataException($"GET {pathAndQuery} answered no JSON");

    public string Describe() => string.Join("\n\n", _processes.Select(p => p.Describe()));

    /// <summary>Series names in Prometheus text format (the name before '{' or ' ' on every sample line).</summary>
    public static IEnumerable<string> MetricNamesOf(string scrape) =>
        scrape.Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => l[..l.IndexOfAny(['{', ' '])]);

    private async Task<int> SeriesCountAsync(string expr) => (await QueryAsync(expr))["data"]?["result"]?.AsArray().Count ?? 0;

    private async Task<double> ScalarAsync(string expr)
    {
        var result = (await QueryAsync(expr))["data"]?["result"]?.AsArray();
        return result is { Count: > 0 } ? double.Parse((string)result[0]!["value"]![1]!, CultureInfo.InvariantCulture) : 0;
    }

    private async Task PostAsync(string path, object body)
    {
        using var content = new StringContent(JsonSerializer.Serialize(body, Json), Encoding.UTF8, "application/json");
        var response = await _http.PostAsync(SiloUrl + path, content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private ChildProcess Start(string name, string fileName, params string[] arguments)
    {
        var process = new ChildProcess(name, fileName, arguments);
        _processes.Add(process);
        return process;
    }

    private async Task WaitAsync(ChildProcess process, DateTime deadline, string what, Func<Task<bool>> condition)
    {
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"waiting for {what}: {process.Describe()}");
            }

            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no {what} within {StartTimeout}:\n{Describe()}");
            }

            await Task.Delay(500);
        }
    }

    private static int FreePort() => Ports.Free();

    public void Dispose() => _http.Dispose();

    public Task DisposeAsync()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _http.Dispose();
        if (_workDir is not null)
        {
            try
            {
                Directory.Delete(_workDir, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return Task.CompletedTask;
    }
}
