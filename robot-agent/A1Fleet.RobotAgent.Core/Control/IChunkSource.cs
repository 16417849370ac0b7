using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// Where action chunks come from: the network hop to the robot grain in production, a test double in the
/// loop's tests. Implementations return failures as results rather than throwing, and must not block the
/// calling thread (the control loop calls this from its tick and never awaits it there).
/// </summary>
public interface IChunkSource
{
    Task<ChunkResult> RequestAsync(Observation observation, CancellationToken cancellationToken);
}

public enum ChunkOutcome
{
    /// <summary>A chunk of actions to execute.</summary>
    Actions = 0,

    /// <summary>The fleet says hold: no task, or e-stopped.</summary>
    Hold = 1,

    /// <summary>No chunk this time (error, timeout, cluster unreachable, re-binding); retry after <see cref="ChunkResult.RetryAfter"/>.</summary>
    Failed = 2,
}

/// <summary>
/// The answer to one request, in model units: <see cref="Steps"/> rows of <see cref="ActionDim"/> values, and what
/// the fleet issued it under (lease epoch, task version, e-stop generation; 0 where the issuer did not say), so the
/// control loop can refuse an answer that something it already knows has overtaken.
/// </summary>
public sealed class ChunkResult
{
    private ChunkResult(ChunkOutcome outcome, float[] actions, int steps, int actionDim, RobotTask? task, bool eStopped, TimeSpan retryAfter, string? error,
        long epoch = 0, long taskVersion = 0, long eStopGeneration = 0)
    {
        Epoch = epoch;
        TaskVersion = taskVersion;
        EStopGeneration = eStopGeneration;
        Outcome = outcome;
        Actions = actions;
        Steps = steps;
        ActionDim = actionDim;
        Task = task;
        EStopped = eStopped;
        RetryAfter = retryAfter;
        Error = error;
    }

    public ChunkOutcome Outcome { get; }

    /// <summary>Row-major [Steps, ActionDim]; action 0 is meant for the first control tick after the observation.</summary>
    public float[] Actions { get; }

    public int Steps { get; }

    public int ActionDim { get; }

    public RobotTask? Task { get; }

    public bool EStopped { get; }

    /// <summary>For failures: how long the loop should wait before asking again (zero: on the next tick).</summary>
    public TimeSpan RetryAfter { get; }

    public string? Error { get; }

    /// <summary>The lease epoch the chunk was issued under (0: not said).</summary>
    public long Epoch { get; }

    /// <summary>The task version the chunk was issued for (0: not said).</summary>
    public long TaskVersion { get; }

    /// <summary>The robot's e-stop generation when the chunk was issued (0: not said).</summary>
    public long EStopGeneration { get; }

    public static ChunkResult Chunk(float[] actions, int steps, int actionDim, RobotTask? task = null, long epoch = 0, long taskVersion = 0, long eStopGeneration = 0) =>
        new(ChunkOutcome.Actions, actions, steps, actionDim, task, false, TimeSpan.Zero, null, epoch, taskVersion, eStopGeneration);

    public static ChunkResult Hold(bool eStopped, RobotTask? task, long epoch = 0, long eStopGeneration = 0) =>
        new(ChunkOutcome.Hold, [], 0, 0, task, eStopped, TimeSpan.Zero, null, epoch, task?.Version ?? 0, eStopGeneration);

    public static ChunkResult Failed(string error, TimeSpan retryAfter = default) =>
        new(ChunkOutcome.Failed, [], 0, 0, null, false, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter, error);
}
