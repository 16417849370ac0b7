using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Diagnostics;

/// <summary>One agent's live numbers: what the status line prints and what the fleet demo shows per arm.</summary>
public sealed record AgentSnapshot(
    string RobotId,
    Embodiment Embodiment,
    double ControlHz,
    AgentPhase Phase,
    long Epoch,
    string? Task,
    bool EStopped,
    long ControlTicks,
    long HoldTicks,
    long ClampedActions,
    long IdleGaps,
    long IdleGapTicks,
    long LongestIdleGapTicks,
    long ChunksExecuted,
    long StaleChunks,
    long Splices,
    double MaxSpliceJump,
    double MeanSpliceJump,
    long Requests,
    long RequestFailures,
    double MeanRequestLatencyMs,
    double LastRequestLatencyMs,
    long Binds,
    long TickOverruns,
    string? LastError,
    bool LocalStopped = false,
    long LocalStops = 0,
    long EStopGeneration = 0,
    long SlowedTicks = 0,
    long RampedTicks = 0,
    long RejectedChunks = 0,
    long SupersededChunks = 0,
    double MaxCommandStep = 0,
    long DriverLimitViolations = 0,
    DateTimeOffset? EStopLatchedAt = null,
    long Refusals = 0,
    long Episodes = 0,
    long Successes = 0,
    string? EStopRoute = null)
{
    public string ToStatusLine() =>
        $"{RobotId} [{Embodiment} {ControlHz:0} Hz] {Phase} epoch {Epoch} task '{Task ?? "-"}' | ticks {ControlTicks} holds {HoldTicks} clamps {ClampedActions} " +
        $"idle gaps {IdleGaps} ({IdleGapTicks} ticks, longest {LongestIdleGapTicks}) | chunks {ChunksExecuted} stale {StaleChunks} " +
        $"splice jump max {MaxSpliceJump:0.0000} mean {MeanSpliceJump:0.0000} | requests {Requests} failed {RequestFailures} refused {Refusals} " +
        $"latency mean {MeanRequestLatencyMs:0.0} ms last {LastRequestLatencyMs:0.0} ms | binds {Binds} | " +
        $"limits: slowed {SlowedTicks} ramped {RampedTicks} rejected {RejectedChunks} max step {MaxCommandStep:0.0000} driver violations {DriverLimitViolations} | superseded {SupersededChunks} | " +
        $"e-stop gen {EStopGeneration}{(LocalStopped ? " LOCAL STOP" : "")} local stops {LocalStops}" +
        (Episodes == 0 ? "" : $" | episodes {Episodes} successes {Successes}") +
        (LastError is null ? "" : $" | last error: {LastError}");
}
