namespace A1Fleet.Grains;

/// <summary>
/// Arm kinds the fleet knows; each has its own driver, joint limits and control rate. In JSON by the name selectors,
/// the CLI and the docs use ("franka", "agibot", "openarm", "dobot"); numbers are still read.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<Embodiment>))]
public enum Embodiment
{
    [System.Text.Json.Serialization.JsonStringEnumMemberName("franka")]
    Franka = 0,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("agibot")]
    AgiBot = 1,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("openarm")]
    OpenArm = 2,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("dobot")]
    Dobot = 3,
}

/// <summary>What an agent tells its robot grain when it binds: the arm as it is wired today.</summary>
[GenerateSerializer, Immutable, Alias("a1.AgentRegistration")]
public sealed record AgentRegistration(
    [property: Id(0)] string AgentId,
    [property: Id(1)] Embodiment Embodiment,
    [property: Id(2)] string ModelId,
    [property: Id(3)] int StateDim,
    [property: Id(4)] int ActionDim,
    [property: Id(5)] IReadOnlyList<string> Cameras,
    [property: Id(6)] double ControlHz,
    [property: Id(7)] IReadOnlyList<string> Tags);

/// <summary>
/// The right to drive a robot: the grain hands out a new epoch on every bind, and refuses calls
/// carrying an older one, so a stale or duplicate agent cannot command the arm.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.RobotLease")]
public sealed record RobotLease(
    [property: Id(0)] string RobotId,
    [property: Id(1)] long Epoch,
    [property: Id(2)] double LatencyBudgetMs,
    [property: Id(3)] RobotTask? Task,
    [property: Id(4)] bool EStopped,
    [property: Id(5)] ModelSpec Model,
    [property: Id(6)] long EStopGeneration = 0);

[GenerateSerializer, Immutable, Alias("a1.RobotTask")]
public sealed record RobotTask(
    [property: Id(0)] string Instruction,
    [property: Id(1)] DateTimeOffset Since,
    [property: Id(2)] string AssignedBy,
    [property: Id(3)] long Version);

/// <summary>
/// One observation from the arm: proprio in robot units and RGB8 (HWC) images per camera. <see cref="Instruction"/> is
/// set only by a compatible-protocol session whose robot's profile lets the client's prompt win over the assigned task
/// (<see cref="InstructionSource.Prompt"/>); agents leave it null and the grain uses the assigned task.
/// <para><see cref="AgeMs"/> is how old the observation was when its current holder handed it on, each holder measuring
/// on its own monotonic clock since it received it (the agent: since capture). Each hop re-anchors it on arrival
/// (arrival - age), so a deadline never compares wall clocks of two machines; <see cref="CapturedAt"/> is for people
/// and recordings only. What no hop can measure, the transit between two machines, is not counted (docs/fleet.md).</para>
/// <para><see cref="ActionsHeld"/> is what the agent reports it still had to execute when it captured the observation:
/// the actions of its last chunk after the tick it captured on. Null (a compatible client, an agent from before the
/// field): the robot grain estimates it from the chunks it issued (<c>ArmActions</c>).</para>
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.Observation")]
public sealed record Observation(
    [property: Id(0)] long Sequence,
    [property: Id(1)] float[] State,
    [property: Id(2)] byte[][] Images,
    [property: Id(3)] DateTimeOffset CapturedAt,
    [property: Id(4)] string? Instruction = null,
    [property: Id(5)] double AgeMs = 0,
    [property: Id(6)] int? ActionsHeld = null)
{
    /// <summary>The capturing process's <see cref="TimeProvider.GetTimestamp"/> at capture (0: unknown). Never on the wire: it means nothing elsewhere.</summary>
    [field: NonSerialized]
    public long CapturedTimestamp { get; init; }
}

public enum ChunkStatus
{
    /// <summary>A fresh action chunk to execute.</summary>
    Ok = 0,
    /// <summary>No task or e-stopped: hold position.</summary>
    Hold = 1,
    /// <summary>The agent's lease epoch is stale: another agent holds the robot.</summary>
    LeaseLost = 2,
    /// <summary>The request failed (bad input, no model): hold and report.</summary>
    Error = 3,

    /// <summary>
    /// Not now: the fleet could not answer by the request's deadline (or it is over its bounds), so it refused at once
    /// instead of answering late. Nothing failed: keep executing the actions held, ask again after
    /// <see cref="ActionChunk.RetryAfterMs"/>, and hold only when they run out. <see cref="ActionChunk.Error"/> says why.
    /// </summary>
    Refused = 4,
}

/// <summary>Why an inference grain refused a request (a closed set: a metric tag).</summary>
public enum RefusalReason
{
    /// <summary>Even at the first exit, the work queued ahead would finish it after its deadline.</summary>
    Deadline = 0,

    /// <summary>Its deadline passed while it waited for a batch (the queue grew ahead of it).</summary>
    ExpiredInQueue = 1,

    /// <summary>The model's queue is at <c>A1Fleet:Inference:Batching:MaxQueuedRequests</c>.</summary>
    QueueFull = 2,

    /// <summary>The robot already has <c>A1Fleet:Inference:Batching:MaxQueuedPerRobot</c> requests queued (fair share).</summary>
    RobotShare = 3,
}

/// <summary>An inference grain's "not now": why, and when asking again could be answered in time.</summary>
[GenerateSerializer, Immutable, Alias("a1.Refusal")]
public sealed record Refusal(
    [property: Id(0)] RefusalReason Reason,
    [property: Id(1)] string Detail,
    [property: Id(2)] double RetryAfterMs);

/// <summary>
/// One answer to <see cref="IRobotGrain.Act"/>. <see cref="Epoch"/>, <see cref="TaskVersion"/> and
/// <see cref="EStopGeneration"/> say what the chunk was issued under, so an agent that has since heard of a
/// newer lease, task or e-stop never executes it.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.ActionChunk")]
public sealed record ActionChunk(
    [property: Id(0)] long Sequence,
    [property: Id(1)] ChunkStatus Status,
    [property: Id(2)] float[] Actions,
    [property: Id(3)] int Chunk,
    [property: Id(4)] int ActionDim,
    [property: Id(5)] InferenceStats? Stats,
    [property: Id(6)] RobotTask? Task,
    [property: Id(7)] bool EStopped,
    [property: Id(8)] string? Error,
    [property: Id(9)] bool ObserverMissing = false,
    [property: Id(10)] long Epoch = 0,
    [property: Id(11)] long TaskVersion = 0,
    [property: Id(12)] long EStopGeneration = 0,
    [property: Id(13)] double RetryAfterMs = 0)
{
    public static ActionChunk Holding(long sequence, RobotTask? task, bool eStopped, ChunkStatus status = ChunkStatus.Hold, string? error = null) =>
        new(sequence, status, [], 0, 0, null, task, eStopped, error);
}

/// <summary>What producing a chunk cost, as the inference grain measured it.</summary>
[GenerateSerializer, Immutable, Alias("a1.InferenceStats")]
public sealed record InferenceStats(
    [property: Id(0)] int ExitLayer,
    [property: Id(1)] int LayersRun,
    [property: Id(2)] int Layers,
    [property: Id(3)] int DenoisingSteps,
    [property: Id(4)] double QueueMs,
    [property: Id(5)] double EngineMs,
    [property: Id(6)] double TotalMs,
    [property: Id(7)] bool BudgetMissed,
    [property: Id(8)] int BatchSize,
    [property: Id(9)] string ThresholdVersion,
    [property: Id(10)] int LayerCap,
    [property: Id(11)] bool ForcedExit = false);

/// <summary>Commands pushed to a bound agent so they take effect within one control period.</summary>
[GenerateSerializer, Immutable, Alias("a1.RobotCommand")]
public sealed record RobotCommand(
    [property: Id(0)] RobotCommandKind Kind,
    [property: Id(1)] RobotTask? Task,
    [property: Id(2)] double LatencyBudgetMs,
    [property: Id(3)] long Epoch,
    [property: Id(4)] long EStopGeneration = 0);

public enum RobotCommandKind
{
    EStop = 0,
    Resume = 1,
    TaskChanged = 2,
    BudgetChanged = 3,
    LeaseRevoked = 4,
}

[GenerateSerializer, Immutable, Alias("a1.RobotStatus")]
public sealed record RobotStatus(
    [property: Id(0)] string RobotId,
    [property: Id(1)] Embodiment? Embodiment,
    [property: Id(2)] string? ModelId,
    [property: Id(3)] RobotTask? Task,
    [property: Id(4)] bool EStopped,
    [property: Id(5)] double LatencyBudgetMs,
    [property: Id(6)] string? AgentId,
    [property: Id(7)] long Epoch,
    [property: Id(8)] DateTimeOffset? LastSeen,
    [property: Id(9)] RobotCounters Counters,
    [property: Id(10)] IReadOnlyList<string> Tags,
    [property: Id(11)] double ControlHz,
    [property: Id(12)] bool Online = false,
    [property: Id(13)] long EStopGeneration = 0);

/// <summary>
/// One robot's answer to an e-stop or a resume. <see cref="Confirmed"/> is <see cref="Persisted"/>: once the
/// robot grain's storage holds it, every later request of the agent sees it (and latches it), wherever the grain
/// reactivates; <see cref="Pushed"/> says whether the bound agent also heard it at once. <see cref="PersistedAt"/> is
/// the grain's clock when the write returned (null when it failed): the start of the e-stop-to-hold time.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.EStopConfirmation")]
public sealed record EStopConfirmation(
    [property: Id(0)] string RobotId,
    [property: Id(1)] long Generation,
    [property: Id(2)] bool Persisted,
    [property: Id(3)] bool Pushed,
    [property: Id(4)] bool AgentOnline,
    [property: Id(5)] string? Error,
    [property: Id(6)] DateTimeOffset? PersistedAt = null)
{
    public bool Confirmed => Persisted;
}

/// <summary>
/// One robot's counters: requests and chunks as its robot grain counted them; <see cref="Episodes"/> and
/// <see cref="Successes"/> as its agent last reported them (episodes of a simulated task ended, and those the
/// simulated world judged successful; 0 for an agent that runs no task world).
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.RobotCounters")]
public sealed record RobotCounters(
    [property: Id(0)] long Requests,
    [property: Id(1)] long Chunks,
    [property: Id(2)] long BudgetMisses,
    [property: Id(3)] long Holds,
    [property: Id(4)] long Errors,
    [property: Id(5)] double MeanExitLayer,
    [property: Id(6)] double P50LatencyMs,
    [property: Id(7)] double P99LatencyMs,
    [property: Id(8)] long Refusals = 0,
    [property: Id(9)] long ForcedExits = 0,
    [property: Id(10)] long Episodes = 0,
    [property: Id(11)] long Successes = 0)
{
    public static RobotCounters Empty { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Successes per episode (null before the first episode ends): <see cref="Episodes"/> and <see cref="Successes"/> are the agent's.</summary>
    public double? SuccessRate => Episodes == 0 ? null : (double)Successes / Episodes;
}
