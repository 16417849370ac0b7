using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;

namespace A1Fleet.RobotAgent;

/// <summary>
/// One agent: which robot it drives and how. Section "A1Fleet:Agent"; the agent process maps
/// <c>--robot-id</c>, <c>--embodiment</c>, <c>--model</c> and friends onto it.
/// </summary>
public sealed class AgentOptions
{
    public const string SectionName = "A1Fleet:Agent";

    /// <summary>The robot grain's key. Required.</summary>
    public string RobotId { get; set; } = "";

    public Embodiment Embodiment { get; set; } = Embodiment.Franka;

    /// <summary>The model the robot runs; a GPU silo must serve it.</summary>
    public string ModelId { get; set; } = "small-fm";

    /// <summary>Free labels operators select robots by ("tag:NAME").</summary>
    public List<string> Tags { get; set; } = [];

    /// <summary>
    /// Ask for the next chunk when this share of a chunk is left (0, 1]. 0.5 (default) leaves half a chunk
    /// (250 ms for 10 steps at 20 Hz) for the round trip; raise it when latency is higher than that.
    /// </summary>
    public double RequestAheadShare { get; set; } = 0.5;

    /// <summary>Steps over which a new chunk is blended into the old one at a splice (0..32, default 3; 0 switches at once).</summary>
    public int BlendSteps { get; set; } = 3;

    /// <summary>
    /// Refuse a chunk whose own motion between consecutive actions needs more than this multiple of a joint's
    /// velocity limit (0, the default, refuses none: every chunk is slowed to the limits instead; otherwise 1..1000).
    /// The shipped random-weight models ask for ~50x, so a value here stops them moving at all.
    /// </summary>
    public double RejectSpeedFactor { get; set; }

    /// <summary>
    /// The task the simulated arm runs in its simulated world (default None). Tabletop: while the robot's task is one of
    /// the tabletop family's instructions ("touch the red block", "push the blue block to the left"), the arm runs
    /// seeded episodes of it, the world decides each one's success, and the counts reach the robot grain with the
    /// agent's counters (<see cref="Tasks.TabletopEpisodes"/>).
    /// </summary>
    public Tasks.SimulatedTask SimulatedTask { get; set; } = Tasks.SimulatedTask.None;

    /// <summary>Seconds a simulated task's episode may run before it fails (default 8, as the policy bench runs them; 0.1..3600).</summary>
    public double EpisodeSeconds { get; set; } = Tasks.TabletopEpisodes.DefaultEpisodeSeconds;

    /// <summary>Seed of the simulated arm and scene; unset, it is derived from the robot id (stable across runs).</summary>
    public int? Seed { get; set; }

    /// <summary>How often the agent's counters go to its robot grain (seconds, default 5).</summary>
    public double ReportIntervalSeconds { get; set; } = 5;

    /// <summary>
    /// How often the agent heartbeats its lease while bound (seconds, default 1): a third of the fleet's lease TTL, so
    /// two heartbeats may be lost before a live agent's lease lapses. Every chunk request counts as one too.
    /// </summary>
    public double HeartbeatIntervalSeconds { get; set; } = 1;

    /// <summary>How often to ask again while the fleet says hold (no task or e-stopped; seconds, default 1). Pushes cut it short.</summary>
    public double HoldPollSeconds { get; set; } = 1;

    /// <summary>Longest wait for one chunk before the request counts as failed and the agent binds again (seconds, default 2).</summary>
    public double RequestTimeoutSeconds { get; set; } = 2;

    /// <summary>
    /// Longest wait for a bind (seconds, default 10). Longer than a request's: binding writes the robot's state
    /// and may wait up to 2 s for the grain to tell a previous, possibly dead, agent that it lost the lease.
    /// </summary>
    public double BindTimeoutSeconds { get; set; } = 10;

    /// <summary>First wait before re-binding after a failure (seconds, default 0.25); doubles per failure up to the maximum.</summary>
    public double RebindBackoffMinSeconds { get; set; } = 0.25;

    /// <summary>Longest wait between re-bind attempts (seconds, default 5).</summary>
    public double RebindBackoffMaxSeconds { get; set; } = 5;

    /// <summary>The name this agent binds under; unset: "agent-{RobotId}@{machine}:{process id}".</summary>
    public string? AgentId { get; set; }

    public int EffectiveSeed => Seed ?? StableHash(RobotId);

    public string EffectiveAgentId => string.IsNullOrWhiteSpace(AgentId) ? $"agent-{RobotId}@{Environment.MachineName}:{Environment.ProcessId}" : AgentId;

    public ControlLoopOptions ToControlLoopOptions() => new()
    {
        RequestAheadShare = RequestAheadShare,
        BlendSteps = BlendSteps,
        HoldPollInterval = TimeSpan.FromSeconds(HoldPollSeconds),
        RejectSpeedFactor = RejectSpeedFactor,
    };

    /// <summary>FNV-1a: string.GetHashCode is randomised per process, and seeds must be the same every run.</summary>
    private static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash & 0x7fffffff);
    }
}
