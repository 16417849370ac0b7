using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Host;

/// <summary>Prints the agent's status line every few seconds, so an operator at the arm sees what it does.</summary>
public sealed class AgentStatusPrinter(RobotAgentRunner runner, IOptions<AgentHostOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = options.Value.StatusIntervalSeconds;
        if (seconds <= 0)
        {
            return;
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(seconds), time, stoppingToken);
                await Console.Out.WriteLineAsync(runner.Snapshot().ToStatusLine());
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
