using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Host;

/// <summary>
/// SIGUSR1 engages the agent's local stop (<c>kill -USR1 PID</c>): no network, no cluster needed. .NET names no
/// SIGUSR1, so the raw number is registered: 10 on Linux, 30 on macOS (signal(7), sigaction(2)). The handler cancels
/// the default action (which would terminate the process). Releasing needs POST /local/resume on the loopback listener.
/// SIGTERM and SIGINT keep their meaning: the host shuts down, and the agent brings the arm to rest first.
/// </summary>
public sealed partial class LocalStopSignal(RobotAgentRunner runner, ILogger<LocalStopSignal> logger) : IHostedService, IDisposable
{
    /// <summary>SIGUSR1's number on this platform; null where there is none (Windows).</summary>
    public static int? SigUsr1 => OperatingSystem.IsLinux() ? 10 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 30 : null;

    private PosixSignalRegistration? _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (SigUsr1 is not { } signal)
        {
            LogNoSignal();
            return Task.CompletedTask;
        }

        _registration = PosixSignalRegistration.Create((PosixSignal)signal, context =>
        {
            context.Cancel = true;
            if (runner.LocalStop.Engage("signal SIGUSR1"))
            {
                LogEngaged(runner.RobotId);
            }
        });
        LogRegistered(runner.RobotId, Environment.ProcessId, signal);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _registration?.Dispose();
        _registration = null;
    }

    [LoggerMessage(EventId = 730, Level = LogLevel.Information, Message = "Robot {RobotId}: local stop on SIGUSR1 (kill -USR1 {ProcessId}; signal {Signal}); release with POST /local/resume on the loopback listener")]
    private partial void LogRegistered(string robotId, int processId, int signal);

    [LoggerMessage(EventId = 731, Level = LogLevel.Warning, Message = "Robot {RobotId}: local stop engaged by SIGUSR1")]
    private partial void LogEngaged(string robotId);

    [LoggerMessage(EventId = 732, Level = LogLevel.Warning, Message = "No SIGUSR1 on this platform: the local stop is available over loopback HTTP only (POST /local/estop)")]
    private partial void LogNoSignal();
}
