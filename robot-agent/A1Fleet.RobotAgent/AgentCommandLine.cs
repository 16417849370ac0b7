using System.CommandLine;
using A1Fleet.RobotAgent.Recording;

namespace A1Fleet.RobotAgent.Host;

/// <summary>
/// The agent's command line on System.CommandLine: generated help (--help), unknown options and missing values refused
/// (exit 2), and each switch mapped to one configuration key, so appsettings and environment variables
/// (A1Fleet__Agent__RobotId, ...) set the same things.
/// </summary>
public static class AgentCommandLine
{
    /// <summary>Exit codes: 0 stopped normally, 1 failed (settings invalid, could not start), 2 the command line itself is wrong.</summary>
    public const int Ok = 0, Failed = 1, Usage = 2;

    private sealed record Switch(string Name, string ConfigurationKey, string Description);

    private static readonly Switch[] Switches =
    [
        new("--gateway", $"{AgentHostOptions.SectionName}:Gateway", "robot gateway URL(s), comma-separated (http:// or https://); several are balanced round-robin"),
        new("--gateway-ca", $"{AgentHostOptions.SectionName}:GatewayCaFile", "PEM root(s) an https:// gateway's certificate must chain to, instead of the system's store"),
        new("--credential-file", $"{AgentHostOptions.SectionName}:CredentialFile", "file holding this robot's credential (a1r_...); or the A1FLEET_ROBOT_CREDENTIAL environment variable"),
        new("--robot-id", $"{AgentOptions.SectionName}:RobotId", "the robot this agent drives (must match its credential)"),
        new("--embodiment", $"{AgentOptions.SectionName}:Embodiment", "arm kind: franka, agibot, openarm or dobot"),
        new("--model", $"{AgentOptions.SectionName}:ModelId", "model the robot runs (e.g. small-fm)"),
        new("--agent-id", $"{AgentOptions.SectionName}:AgentId", "this process' name in the lease (default: host and pid)"),
        new("--tags", $"{AgentHostOptions.SectionName}:Tags", "comma-separated tags operators select robots by (tag:NAME)"),
        new("--seed", $"{AgentOptions.SectionName}:Seed", "seed of the simulated arm and camera"),
        new("--request-ahead", $"{AgentOptions.SectionName}:RequestAheadShare", "share of a chunk left when the next one is requested (0..1)"),
        new("--blend-steps", $"{AgentOptions.SectionName}:BlendSteps", "steps over which a new chunk is blended into the old one"),
        new("--reject-speed-factor", $"{AgentOptions.SectionName}:RejectSpeedFactor", "chunks asking for more than this times the joint speed limit are refused"),
        new("--heartbeat-interval", $"{AgentOptions.SectionName}:HeartbeatIntervalSeconds", "seconds between lease heartbeats while idle"),
        new("--status-interval", $"{AgentHostOptions.SectionName}:StatusIntervalSeconds", "seconds between status lines on stdout (0: none)"),
        new("--metrics-port", $"{AgentHostOptions.SectionName}:MetricsPort", "port of /metrics, /health/* and the loopback-only /local/* endpoints"),
        new("--listen-address", $"{AgentHostOptions.SectionName}:ListenAddress", "address that port listens on (default 127.0.0.1; 0.0.0.0 in containers)"),
        new("--record", $"{EpisodeRecordingOptions.SectionName}:Directory", "record episodes as a LeRobot dataset into this directory"),
        new("--record-episode-seconds", $"{EpisodeRecordingOptions.SectionName}:MaxEpisodeSeconds", "longest recorded episode in seconds"),
        new("--record-min-frames", $"{EpisodeRecordingOptions.SectionName}:MinEpisodeFrames", "shorter episodes are dropped (and counted)"),
    ];

    /// <summary>
    /// The root command. <paramref name="run"/> gets the configuration the switches set (key → value, only those given)
    /// and the token Ctrl-C cancels, and returns the exit code.
    /// </summary>
    public static RootCommand Create(Func<IReadOnlyDictionary<string, string?>, CancellationToken, Task<int>> run)
    {
        var root = new RootCommand("a1-agent: one robot arm's control loop, served by an A1Fleet through its robot gateway (docs/robot-gateway.md).");
        var options = Switches.Select(s => (Switch: s, Option: new Option<string>(s.Name) { Description = $"{s.Description} [{s.ConfigurationKey}]" })).ToList();
        foreach (var (_, option) in options)
        {
            root.Options.Add(option);
        }

        root.SetAction((parsed, cancellationToken) =>
        {
            var settings = options
                .Where(o => parsed.GetResult(o.Option) is { Implicit: false })
                .ToDictionary(o => o.Switch.ConfigurationKey, o => (string?)parsed.GetValue(o.Option), StringComparer.OrdinalIgnoreCase);
            return run(settings, cancellationToken);
        });
        return root;
    }

    /// <summary>Parses and runs; a wrong command line prints every problem and exits <see cref="Usage"/> without starting anything.</summary>
    public static async Task<int> RunAsync(string[] args, Func<IReadOnlyDictionary<string, string?>, CancellationToken, Task<int>> run, TextWriter error)
    {
        var parsed = Create(run).Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                await error.WriteLineAsync($"a1-agent: {problem.Message}");
            }

            await error.WriteLineAsync("a1-agent: see a1-agent --help");
            return Usage;
        }

        // The web host handles SIGINT/SIGTERM itself (graceful stop, the arm held); the parser must not race it for them.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }
}
