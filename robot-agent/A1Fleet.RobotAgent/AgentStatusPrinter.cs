using A1Fleet.RobotAgent.Recording;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Host;

/// <summary>Prints the agent's status line every few seconds, so an operator at the arm sees what it does.</summary>
public sealed class AgentStatusPrinter(RobotAgentRunner runner, EpisodeRecorder recorder, IOptions<AgentHostOptions> options, TimeProvider time) : BackgroundService
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
                var line = runner.Snapshot().ToStatusLine();
                if (recorder.Enabled)
                {
                    var r = recorder.Summary();
                    line += $" recorded={r.EpisodesWritten}ep/{r.FramesWritten}fr" + (r.EpisodesFailed > 0 ? $" record-failures={r.EpisodesFailed} ({r.LastError})" : "");
                }

                await Console.Out.WriteLineAsync(line);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
