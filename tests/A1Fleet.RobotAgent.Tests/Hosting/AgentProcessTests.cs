using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using A1Fleet.RobotAgent.Host;

namespace A1Fleet.RobotAgent.Tests.Hosting;

/// <summary>The real a1-agent process with no cluster to reach: its local stop must work anyway.</summary>
public sealed class AgentProcessTests
{
    [Fact]
    public async Task Process_ClusterDown_LocalStopBySignalAndLoopbackHttp_ThenSigtermShutsItDown()
    {
        if (LocalStopSignal.SigUsr1 is null)
        {
            return; // Windows: no signals to send; the in-process tests cover the HTTP side there.
        }

        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["A1FLEET_ROBOT_CREDENTIAL"] = "a1r_0000000000000000_" + new string('0', 64) },
        };
        foreach (var arg in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "a1-agent.dll"), "--robot-id", "franka-process", "--embodiment", "franka",
            // Nothing listens there: the cluster is down.
            "--gateway", "http://127.0.0.1:" + FreePort().ToString(CultureInfo.InvariantCulture),
            "--metrics-port", port.ToString(CultureInfo.InvariantCulture), "--status-interval", "0",
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        process.ErrorDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!await AnswersAsync(http, "/health/live"))
            {
                Assert.True(DateTime.UtcNow < deadline && !process.HasExited, "the agent never listened:\n" + string.Join('\n', output.TakeLast(30)));
                await Task.Delay(100);
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);

            var stopped = await (await http.PostAsync("/local/estop", null)).Content.ReadFromJsonAsync<LocalStopState>();
            Assert.True(stopped!.LocalStop);
            var released = await (await http.PostAsync("/local/resume", null)).Content.ReadFromJsonAsync<LocalStopState>();
            Assert.False(released!.LocalStop);

            await SignalAsync("USR1", process.Id);
            LocalStopState? status;
            while ((status = await http.GetFromJsonAsync<LocalStopState>("/local/status"))!.LocalStop is false)
            {
                Assert.True(DateTime.UtcNow < deadline, "SIGUSR1 did not engage the local stop");
                await Task.Delay(50);
            }

            Assert.Equal("signal SIGUSR1", status.LocalStopSource);
            Assert.Equal(2, status.LocalStops);
            Assert.False(process.HasExited, "SIGUSR1 must not terminate the agent");

            await SignalAsync("TERM", process.Id);
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(exit.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task<bool> AnswersAsync(HttpClient http, string path)
    {
        try
        {
            return (await http.GetAsync(path)).StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task SignalAsync(string signal, int processId)
    {
        using var kill = Process.Start("kill", $"-{signal} {processId}");
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private static int FreePort() => A1Fleet.ProcessHarness.ProcessCluster.FreePort();
}
