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

    /// <summary>
    /// The fleet said "not now": it could not answer by the request's deadline and refused at once rather than late.
    /// Nothing is wrong: keep executing the actions held, ask again after <see cref="ChunkResult.RetryAfter"/>.
    /// </summary>
    Refused = 3,
}

/// <summary>The answer to one request, in model units: <see cref="Steps"/> rows of <see cref="ActionDim"/> values.</summary>
public sealed class ChunkResult
{
    private ChunkResult(ChunkOutcome outcome, float[] actions, int steps, int actionDim, RobotTask? task, bool eStopped, TimeSpan retryAfter, string? error)
    {
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

    /// <summary>The lease epoch the chunk was issued under (0: not said, as from a source that predates it).</summary>
    public long Epoch { get; private init; }

    /// <summary>The task version the chunk was issued under (0: not said).</summary>
    public long TaskVersion { get; private init; }

    /// <summary>The e-stop generation the answer was issued under (0: not said).</summary>
    public long EStopGeneration { get; private init; }

    public static ChunkResult Chunk(float[] actions, int steps, int actionDim, RobotTask? task = null, long epoch = 0, long taskVersion = 0, long eStopGeneration = 0) =>
        new(ChunkOutcome.Actions, actions, steps, actionDim, task, false, TimeSpan.Zero, null)
        {
            Epoch = epoch,
            TaskVersion = taskVersion,
            EStopGeneration = eStopGeneration,
        };

    public static ChunkResult Hold(bool eStopped, RobotTask? task, long epoch = 0, long taskVersion = 0, long eStopGeneration = 0) =>
        new(ChunkOutcome.Hold, [], 0, 0, task, eStopped, TimeSpan.Zero, null)
        {
            Epoch = epoch,
            TaskVersion = taskVersion,
            EStopGeneration = eStopGeneration,
        };

    public static ChunkResult Refused(string reason, TimeSpan retryAfter) =>
        new(ChunkOutcome.Refused, [], 0, 0, null, false, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter, reason);

    public static ChunkResult Failed(string error, TimeSpan retryAfter = default) =>
        new(ChunkOutcome.Failed, [], 0, 0, null, false, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter, error);
}
