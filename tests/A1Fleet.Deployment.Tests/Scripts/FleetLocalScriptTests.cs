using System.Diagnostics;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Scripts;

/// <summary>scripts/fleet-local.sh without starting the fleet: syntax, and stop acting on exactly the pids it recorded.</summary>
public sealed class FleetLocalScriptTests
{
    private static readonly string Script = Repo.PathOf("scripts/fleet-local.sh");

    private static readonly string[] PortVariables = ["REDIS", "GPU_HTTP", "CPU_HTTP", "GPU_HTTPS", "CPU_HTTPS", "GPU_SILO", "GPU_GATEWAY", "CPU_SILO", "CPU_GATEWAY", "AGENT_METRICS"];

    [ToolFact("bash")]
    public void Script_BashSyntaxCheck_Passes()
    {
        var result = Tools.Run("bash", ["-n", Script], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void Script_ModelBuild_BuildsTheModelWithItsCalibratedThresholdSets()
    {
        // Without threshold sets the local fleet would run every request at full depth (issue 12).
        var build = File.ReadAllLines(Script).Single(l => l.Contains("dotnet \"$builder_dll\" build", StringComparison.Ordinal));

        Assert.Contains("--thresholds shipped", build, StringComparison.Ordinal);
        Assert.Contains(File.ReadAllLines(Script), l => l.Contains("[ ! -d \"$package/thresholds\" ]", StringComparison.Ordinal));
    }

    [ToolFact("bash")]
    public void Stop_WithRecordedPids_StopsThoseProcessesAndRemovesTheirPidFiles()
    {
        var runDir = Path.Combine(Path.GetTempPath(), $"a1fleet-local-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(runDir, "pids"));
        using var silo = Process.Start(new ProcessStartInfo("sleep", "120") { UseShellExecute = false })!;
        using var bystander = Process.Start(new ProcessStartInfo("sleep", "120") { UseShellExecute = false })!;
        try
        {
            File.WriteAllText(Path.Combine(runDir, "pids", "silo-gpu.pid"), silo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(runDir, "pids", "prometheus.pid"), "999999999");

            var result = Tools.Run("bash", [Script, "stop"], TimeSpan.FromSeconds(60), environment: new Dictionary<string, string> { ["A1FLEET_RUN_DIR"] = runDir });

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.True(silo.WaitForExit(10_000), "the recorded silo process is still running");
            Assert.False(bystander.HasExited, "stop ended a process it had not started");
            Assert.Empty(Directory.GetFiles(Path.Combine(runDir, "pids")));
            Assert.Contains($"stopped silo-gpu (pid {silo.Id})", result.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var p in new[] { silo, bystander }.Where(p => !p.HasExited))
            {
                p.Kill();
            }

            Directory.Delete(runDir, recursive: true);
        }
    }

    [ToolFact("bash")]
    public void Restart_OneProcess_RunsItsRecordedCommandAgainAndLeavesTheOthers()
    {
        var runDir = Path.Combine(Path.GetTempPath(), $"a1fleet-local-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(runDir, "cmds"));
        var environment = new Dictionary<string, string> { ["A1FLEET_RUN_DIR"] = runDir };
        using var bystander = Process.Start(new ProcessStartInfo("sleep", "120") { UseShellExecute = false })!;
        var started = new List<int>();
        try
        {
            // As start records it: the crashed agent's command line, NUL-separated; no live pid.
            File.WriteAllText(Path.Combine(runDir, "cmds", "agent-franka.cmd"), "sleep\0" + "120\0");

            var first = Tools.Run("bash", [Script, "restart", "agent-franka"], TimeSpan.FromSeconds(60), environment: environment);
            Assert.True(first.ExitCode == 0, first.ToString());
            var pid = int.Parse(File.ReadAllText(Path.Combine(runDir, "pids", "agent-franka.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            started.Add(pid);
            using (var process = Process.GetProcessById(pid))
            {
                Assert.False(process.HasExited);
            }

            var second = Tools.Run("bash", [Script, "restart", "agent-franka"], TimeSpan.FromSeconds(60), environment: environment);
            Assert.True(second.ExitCode == 0, second.ToString());
            Assert.Contains($"stopped agent-franka (pid {pid})", second.StdOut, StringComparison.Ordinal);
            var again = int.Parse(File.ReadAllText(Path.Combine(runDir, "pids", "agent-franka.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            started.Add(again);
            Assert.NotEqual(pid, again);
            Assert.False(bystander.HasExited, "restart ended a process it had not started");

            var unknown = Tools.Run("bash", [Script, "restart", "silo-nope"], TimeSpan.FromSeconds(60), environment: environment);
            Assert.NotEqual(0, unknown.ExitCode);
            Assert.Contains("no process named 'silo-nope'", unknown.StdErr, StringComparison.Ordinal);
            Assert.Contains("agent-franka", unknown.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var id in started)
            {
                try
                {
                    using var process = Process.GetProcessById(id);
                    process.Kill();
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
            }

            bystander.Kill();
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>A free port with the next three free too (the agents' metrics ports follow the first).</summary>
    private static string FreePortBlock()
    {
        while (true)
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var first = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            if (first < 65530 && Enumerable.Range(first, 4).All(IsFree))
            {
                return first.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [ToolFact("bash")]
    public void Start_WithAPortTaken_FailsNamingThePortAndStartsNothing()
    {
        var runDir = Path.Combine(Path.GetTempPath(), $"a1fleet-local-{Guid.NewGuid():N}");
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            // Every other port free, so the failure can only be about this one.
            var environment = PortVariables.ToDictionary(name => $"A1FLEET_{name}_PORT", _ => FreePortBlock());
            environment["A1FLEET_PROMETHEUS_PORT"] = port;
            environment["A1FLEET_RUN_DIR"] = runDir;
            environment["A1FLEET_NO_BUILD"] = "1";
            var result = Tools.Run("bash", [Script, "start"], TimeSpan.FromSeconds(60), environment: environment);

            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains($"port {port} on 127.0.0.1 is taken", result.StdErr, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFiles(Path.Combine(runDir, "pids")));
        }
        finally
        {
            if (Directory.Exists(runDir))
            {
                Directory.Delete(runDir, recursive: true);
            }
        }
    }
}
