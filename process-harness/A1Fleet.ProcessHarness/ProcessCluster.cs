using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using A1Fleet.Grains;

namespace A1Fleet.ProcessHarness;

/// <summary>
/// Starts and owns real processes on loopback: a private redis-server, silo processes and agent
/// processes, each from the build output of this configuration. Everything started is killed on dispose.
/// </summary>
public sealed class ProcessCluster : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly List<ManagedProcess> _processes = [];
    private readonly List<string> _files = [];

    public ProcessCluster()
    {
        ClusterId = "a1-cluster-test-" + Guid.NewGuid().ToString("N")[..8];
        RedisPort = FreePort();
        RedisDataDirectory = Directory.CreateTempSubdirectory("a1fleet-redis-").FullName;
    }

    public string ClusterId { get; }
    public int RedisPort { get; }
    public string Redis => $"127.0.0.1:{RedisPort}";

    /// <summary>Where redis-server keeps its append-only file; a restart on it replays the cluster's state.</summary>
    public string RedisDataDirectory { get; }

    public ManagedProcess? RedisProcess { get; private set; }

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "A1Fleet.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Release or Debug: whichever the entry assembly (test or bench) was built as, so the processes match it.</summary>
    public static string Configuration => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string BuiltDll(string projectDirectory, string assembly)
    {
        var path = Path.Combine(RepositoryRoot, projectDirectory, "bin", Configuration, "net10.0", assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the solution ({Configuration}) first", path);
    }

    public static string? RedisServerBinary()
    {
        foreach (var candidate in new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>redis-server as scripts/fleet-local.sh runs it: AOF with fsync on every write, no eviction.</summary>
    public ManagedProcess StartRedis()
    {
        var binary = RedisServerBinary() ?? throw new InvalidOperationException("redis-server is not installed: run the README's test command (bash scripts/test.sh), which installs it");
        var redis = Start("redis", binary,
            $"--port {RedisPort} --bind 127.0.0.1 --dir \"{RedisDataDirectory}\" --save \"\" --appendonly yes --appendfsync always --maxmemory-policy noeviction --protected-mode yes");
        WaitUntil(() => CanConnect(RedisPort) || redis.HasExited, TimeSpan.FromSeconds(10), "redis-server did not accept connections");
        if (redis.HasExited)
        {
            throw new InvalidOperationException($"redis-server exited with {redis.ExitCode}:\n{redis.Output}");
        }

        RedisProcess = redis;
        return redis;
    }

    /// <summary>SIGTERM, as a service manager stops Redis: it finishes its append-only file and exits; waits for that.</summary>
    public void StopRedis()
    {
        var redis = RedisProcess ?? throw new InvalidOperationException("redis-server was not started");
        redis.Terminate(TimeSpan.FromSeconds(30));
        if (redis.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-server did not stop cleanly on SIGTERM (exit {redis.ExitCode}):\n{redis.Output}");
        }

        WaitUntil(() => !CanConnect(RedisPort), TimeSpan.FromSeconds(10), $"port {RedisPort} still accepts connections after redis-server exited");
        RedisProcess = null;
    }

    /// <summary>Deletes the stopped Redis' files, so the next start is an empty Redis on the same address (a failover to an empty replica).</summary>
    public void ClearRedisData()
    {
        if (RedisProcess is not null)
        {
            throw new InvalidOperationException("stop redis-server before clearing its data");
        }

        foreach (var entry in new DirectoryInfo(RedisDataDirectory).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo directory)
            {
                directory.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    /// <param name="settings">Extra command-line settings, e.g. "--A1Fleet:CalibrationJobs:ReminderPeriod 00:00:02".</param>
    public SiloProcess StartSilo(string name, string modelPackage, bool gpu = true, params string[] settings) =>
        StartSiloServing("http", name, modelPackage, FreePort(), gpu, settings);

    /// <param name="robotGatewayPort">The silo's robot gateway port: chosen before the start so agents can be told every silo's gateway up front.</param>
    public SiloProcess StartSilo(string name, string modelPackage, int robotGatewayPort, bool gpu = true, params string[] settings) =>
        StartSiloServing("http", name, modelPackage, robotGatewayPort, gpu, settings);

    /// <param name="scheme">"http" or "https"; "https" needs Kestrel:Certificates:Default:Path (and KeyPath) among the settings.</param>
    public SiloProcess StartSiloServing(string scheme, string name, string modelPackage, bool gpu, params string[] settings) =>
        StartSiloServing(scheme, name, modelPackage, FreePort(), gpu, settings);

    private SiloProcess StartSiloServing(string scheme, string name, string modelPackage, int robotGatewayPort, bool gpu, string[] settings)
    {
        var siloPort = FreePort();
        var gatewayPort = FreePort();
        var httpPort = FreePort();
        var dll = BuiltDll("silo/A1Fleet.Silo", "A1Fleet.Silo.dll");
        var args = string.Join(' ',
            $"\"{dll}\"",
            $"--urls {scheme}://127.0.0.1:{httpPort}",
            "--A1Fleet:Silo:Clustering redis",
            "--A1Fleet:Silo:Storage redis",
            $"--A1Fleet:Silo:Redis {Redis}",
            $"--A1Fleet:Silo:ClusterId {ClusterId}",
            $"--A1Fleet:Silo:SiloPort {siloPort}",
            $"--A1Fleet:Silo:GatewayPort {gatewayPort}",
            $"--A1Fleet:RobotGateway:Port {robotGatewayPort}",
            $"--A1Fleet:Silo:Gpu {(gpu ? "true" : "false")}",
            $"--A1Fleet:Inference:ModelPackages:0 \"{modelPackage}\"",
            "--A1Fleet:Inference:Engine:IntraOpThreads 1",
            $"--A1Fleet:Security:BootstrapAdminKey {AdminKey}",
            "--Logging:LogLevel:Default Warning",
            string.Join(' ', settings));
        var process = Start(name, "dotnet", args);
        return new SiloProcess(process, $"{scheme}://127.0.0.1:{httpPort}", siloPort, gatewayPort, RobotGatewayUrl(robotGatewayPort));
    }

    public static string RobotGatewayUrl(int port) => $"http://127.0.0.1:{port}";

    /// <summary>
    /// An a1-agent process on the given robot gateways (round-robin, a dead one skipped) with the robot's credential,
    /// handed over in a file of the test's own (the agent reads --credential-file).
    /// </summary>
    /// <param name="metricsPort">The agent's loopback listener (/metrics, /local/*); 0 lets the system pick one nobody reads.</param>
    public ManagedProcess StartAgent(string robotId, Embodiment embodiment, string model, string credential, IEnumerable<string> robotGateways, int metricsPort = 0)
    {
        var dll = BuiltDll("robot-agent/A1Fleet.RobotAgent", "a1-agent.dll");
        var credentialFile = Path.Combine(Path.GetTempPath(), $"{ClusterId}-{robotId}.key");
        File.WriteAllText(credentialFile, credential);
        _files.Add(credentialFile);
        return Start($"agent-{robotId}", "dotnet",
            $"\"{dll}\" --gateway {string.Join(',', robotGateways)} --credential-file \"{credentialFile}\" --robot-id {robotId} " +
            $"--embodiment {embodiment.ToString().ToLowerInvariant()} --model {model} --metrics-port {metricsPort}");
    }

    /// <summary>
    /// Issues a robot credential through the operator API (<c>POST /api/robots/{id}/credentials</c>, answering the key once).
    /// </summary>
    public static async Task<string> IssueRobotCredential(string baseUrl, string robotId)
    {
        var response = await PostJson(baseUrl, $"/api/robots/{robotId}/credentials", new { name = "cluster-test" });
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {baseUrl}/api/robots/{robotId}/credentials answered {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.GetProperty("key").GetString()!;
    }

    public ManagedProcess Start(string name, string fileName, string arguments)
    {
        var process = new ManagedProcess(name, fileName, arguments);
        _processes.Add(process);
        return process;
    }

    /// <summary>The bootstrap admin key every silo of the test run is started with; the helpers below send it.</summary>
    public static readonly string AdminKey =
        $"a1k_{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}_{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}";

    /// <summary>An operator API client for <paramref name="baseUrl"/> with the admin key.</summary>
    public static HttpClient ApiClient(string baseUrl, TimeSpan timeout)
    {
        var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = timeout };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminKey);
        return http;
    }

    public static async Task<T> GetJson<T>(string baseUrl, string path)
    {
        using var http = ApiClient(baseUrl, TimeSpan.FromSeconds(10));
        return (await http.GetFromJsonAsync<T>(path, Json))!;
    }

    public static async Task<HttpResponseMessage> PostJson(string baseUrl, string path, object body)
    {
        using var http = ApiClient(baseUrl, TimeSpan.FromSeconds(20));
        return await http.PostAsJsonAsync(path, body, Json);
    }

    /// <summary>An HTTP client for a silo; over HTTPS it trusts exactly the silo's configured certificate.</summary>
    public static HttpClient CreateClient(SiloProcess silo, TimeSpan timeout)
    {
        var handler = new HttpClientHandler();
        if (silo.ServerCertificate is { } pinned)
        {
            handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
                certificate is not null && certificate.RawDataMemory.Span.SequenceEqual(pinned.RawDataMemory.Span);
        }

        var http = new HttpClient(handler) { BaseAddress = new Uri(silo.Url), Timeout = timeout };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminKey);
        return http;
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every 250 ms until it holds. An HTTP failure or timeout while a silo fails over
    /// counts as "not yet"; past <paramref name="timeout"/> the error names <paramref name="failure"/> with the silo's last output.
    /// </summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, SiloProcess silo)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
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
                throw new TimeoutException($"{failure} within {timeout}. Last silo output:\n{silo.Process.Output}");
            }

            await Task.Delay(250);
        }
    }

    public static async Task WaitReadyAsync(SiloProcess silo, TimeSpan timeout)
    {
        using var http = CreateClient(silo, TimeSpan.FromSeconds(2));
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (silo.Process.HasExited)
            {
                throw new InvalidOperationException($"{silo.Process.Name} exited with {silo.Process.ExitCode}:\n{silo.Process.Output}");
            }

            try
            {
                if ((await http.GetAsync(silo.Url + "/health/ready")).IsSuccessStatusCode)
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
                throw new TimeoutException($"{silo.Process.Name} was not ready within {timeout}:\n{silo.Process.Output}");
            }

            await Task.Delay(200);
        }
    }

    public static void WaitUntil(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(failure);
            }

            Thread.Sleep(50);
        }
    }

    /// <summary>The local address:port of every TCP socket a process listens on, as `ss -ltnp` reports them.</summary>
    public static IReadOnlyList<string> ListeningAddresses(int pid)
    {
        Process? started;
        try
        {
            started = Process.Start(new ProcessStartInfo("ss", "-ltnpH") { RedirectStandardOutput = true, UseShellExecute = false });
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("ss is not installed (Debian package iproute2): run the README's test command (bash scripts/test.sh), which installs it", e);
        }

        using var ss = started ?? throw new InvalidOperationException("could not start ss -ltnpH");
        var lines = ss.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        ss.WaitForExit();
        return lines
            .Where(line => line.Contains($"pid={pid},", StringComparison.Ordinal))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3])
            .ToList();
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A loopback port nobody listens on, never the same twice while this process lives, nor handed to another process
    /// that draws here meanwhile. Drawn below the kernel's ephemeral range (32768+ on Linux): a port bind(0) hands out is
    /// released before the process under test binds it, and in that gap any outgoing connection of a test run may take
    /// it as its source port. Test projects run in parallel processes, and a port one of them drew but has not bound yet
    /// looks free to the others (measured: a silo test failed with "address already in use"), so each port drawn is
    /// also reserved with a file named after it (<see cref="PortReservations"/>) holding this process's id.
    /// </summary>
    public static int FreePort()
    {
        lock (HandedOut)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(20_000, 32_768);
                if (HandedOut.Contains(port) || !PortReservations.TryReserve(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                }
                catch (SocketException)
                {
                    continue;
                }

                HandedOut.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException("no free loopback port in 20000..32767 after 1000 tries");
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        foreach (var file in _files)
        {
            File.Delete(file);
        }

        try
        {
            Directory.Delete(RedisDataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
