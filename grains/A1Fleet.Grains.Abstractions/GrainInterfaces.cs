namespace A1Fleet.Grains;

/// <summary>Pushed commands (e-stop, task change) for the agent that holds a robot.</summary>
public interface IRobotAgentObserver : IGrainObserver
{
    Task OnCommand(RobotCommand command);
}

/// <summary>
/// One per silo, keyed by the silo's address (<c>SiloAddress.ToParsableString()</c>) and placed on it: hands a command
/// to a robot's command stream if that silo's robot gateway holds one.
/// </summary>
[Alias("a1.IRobotCommandRelayGrain")]
public interface IRobotCommandRelayGrain : IGrainWithStringKey
{
    /// <summary>True when an open stream of <paramref name="robotId"/> at <see cref="RobotCommand.Epoch"/> took it.</summary>
    Task<bool> Deliver(string robotId, RobotCommand command);
}

/// <summary>One per arm, keyed by robot id, persisted. The agent's only door into the cluster.</summary>
[Alias("a1.IRobotGrain")]
public interface IRobotGrain : IGrainWithStringKey
{
    /// <summary>
    /// Binds an agent and hands it a new lease epoch, which must accompany every call. While another agent
    /// holds a live lease (heartbeats within the lease TTL) the bind is refused with <see cref="LeaseHeldException"/>;
    /// a holder that stopped heartbeating loses the lease by itself.
    /// </summary>
    [Alias("Bind")]
    Task<RobotLease> Bind(AgentRegistration registration, IRobotAgentObserver? observer, CancellationToken cancellationToken = default);

    /// <summary>
    /// Re-registers the agent's observer without a new lease, after the grain reactivated elsewhere
    /// and forgot it (a chunk says so with <see cref="ActionChunk.ObserverMissing"/>).
    /// </summary>
    [Alias("Subscribe")]
    Task Subscribe(long epoch, IRobotAgentObserver observer);

    /// <summary>Forwards an observation with the robot's context to inference and returns the chunk (or why to hold).</summary>
    [Alias("Act")]
    Task<ActionChunk> Act(long epoch, Observation observation, CancellationToken cancellationToken = default);

    /// <summary>Keeps the lease of <paramref name="epoch"/> alive; false when that epoch no longer holds the robot. Every Act counts as one too.</summary>
    [Alias("Heartbeat")]
    Task<bool> Heartbeat(long epoch);

    [Alias("GetStatus")]
    Task<RobotStatus> GetStatus();

    [Alias("AssignTask")]
    Task AssignTask(string instruction, string assignedBy);

    [Alias("ClearTask")]
    Task ClearTask(string by);

    [Alias("SetLatencyBudget")]
    Task SetLatencyBudget(double budgetMs);

    /// <summary>
    /// Stops the arm: persisted first, then pushed to the agent when it is online. A repeated e-stop of a stopped
    /// robot keeps its generation and persists and pushes again, so retrying an unconfirmed e-stop is safe.
    /// </summary>
    [Alias("EStop")]
    Task<EStopConfirmation> EStop(string by);

    /// <summary>Undoes an e-stop (same shape as <see cref="EStop"/>); the push carries the generation it resumes.</summary>
    [Alias("Resume")]
    Task<EStopConfirmation> Resume(string by);

    /// <summary>
    /// An operator ends the current lease: the holder is told (LeaseRevoked) and its epoch is refused from now on;
    /// the next bind wins, or with <paramref name="successorAgentId"/> only that agent's bind for one lease TTL
    /// (a take: release to the agent that is to drive the arm next).
    /// </summary>
    [Alias("ReleaseLease")]
    Task<RobotStatus> ReleaseLease(string by, string? successorAgentId = null);

    /// <summary>
    /// Gives the lease of <paramref name="epoch"/> back when <paramref name="agentId"/> still holds it (a compatible-protocol
    /// client disconnected): the next bind wins at once instead of after the lease TTL. False, and nothing changed, when
    /// that epoch no longer holds the robot, so a late unbind never ends a newer holder's lease.
    /// </summary>
    [Alias("Unbind")]
    Task<bool> Unbind(long epoch, string agentId);

    /// <summary>Agent-side counters (holds, clamps, idle gaps; episodes and successes of a simulated task) reported periodically.</summary>
    [Alias("ReportAgentCounters")]
    Task ReportAgentCounters(long epoch, AgentCounters counters);
}

[GenerateSerializer, Immutable, Alias("a1.AgentCounters")]
public sealed record AgentCounters(
    [property: Id(0)] long ControlTicks,
    [property: Id(1)] long HoldTicks,
    [property: Id(2)] long ClampedActions,
    [property: Id(3)] long IdleGaps,
    [property: Id(4)] double MaxSpliceJump,
    [property: Id(5)] long ChunksExecuted,
    [property: Id(6)] long Episodes = 0,
    [property: Id(7)] long Successes = 0);

/// <summary>The operator's view: registry of robots, persisted assignments, fleet-wide commands. Never on the per-request path.</summary>
[Alias("a1.IFleetGrain")]
public interface IFleetGrain : IGrainWithStringKey
{
    [Alias("Register")]
    Task Register(RobotEntry entry);

    [Alias("ListRobots")]
    Task<IReadOnlyList<RobotStatus>> ListRobots(RobotSelector selector);

    [Alias("Assign")]
    Task<CommandResult> Assign(RobotSelector selector, string instruction, string assignedBy);

    [Alias("SetLatencyBudget")]
    Task<CommandResult> SetLatencyBudget(RobotSelector selector, double budgetMs);

    /// <summary>Robot ids a selector picks now (empty when none): for callers that address robot grains themselves.</summary>
    [Alias("Resolve")]
    Task<IReadOnlyList<string>> Resolve(RobotSelector selector);

    /// <summary>The distinct models the robots a selector picks run, from the registry (no robot grain is asked).</summary>
    [Alias("ModelsOf")]
    Task<IReadOnlyList<string>> ModelsOf(RobotSelector selector);

    /// <summary>E-stops every selected robot once and answers per robot; unreachable robots are answered as not confirmed.</summary>
    [Alias("EStop")]
    Task<IReadOnlyList<EStopConfirmation>> EStop(RobotSelector selector, string by);

    [Alias("Resume")]
    Task<IReadOnlyList<EStopConfirmation>> Resume(RobotSelector selector, string by);

    [Alias("ListAssignments")]
    Task<IReadOnlyList<Assignment>> ListAssignments();

    /// <summary>Removes a standing assignment so robots that register later no longer take it; false when there is no such id.</summary>
    [Alias("DeleteAssignment")]
    Task<bool> DeleteAssignment(long id);

    /// <summary>GPU silos announce the models they serve, so operators can list them from any silo.</summary>
    [Alias("RegisterModel")]
    Task RegisterModel(string modelId);

    [Alias("ListModels")]
    Task<IReadOnlyList<string>> ListModels();
}

/// <summary>Per model: the published threshold versions and which one is live.</summary>
[Alias("a1.IModelGrain")]
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>Called by each silo that loads the model; the first registration wins, later ones must agree.</summary>
    [Alias("RegisterSpec")]
    Task RegisterSpec(ModelSpec spec);

    [Alias("GetSpec")]
    Task<ModelSpec?> GetSpec();

    [Alias("Publish")]
    Task<ThresholdVersionInfo> Publish(ThresholdDocument document, bool makeLive);

    [Alias("GetLive")]
    Task<ThresholdDocument?> GetLive();

    /// <summary>One published version, live or not; null when the model has no such version.</summary>
    [Alias("GetVersion")]
    Task<ThresholdDocument?> GetVersion(string version);

    [Alias("GetInfo")]
    Task<ModelInfo> GetInfo();

    /// <summary>
    /// A GPU silo's measured time to the first exit at batch 1 (ms). The model keeps the fastest reported: no
    /// robot of this model can be promised a latency budget below it (<see cref="ModelInfo.FirstExitMs"/>).
    /// </summary>
    [Alias("ReportFirstExitMs")]
    Task ReportFirstExitMs(double firstExitMs);

    [Alias("SetLive")]
    Task<ThresholdVersionInfo> SetLive(string version);

    /// <summary>
    /// A GPU silo that loaded the model says it serves it (<paramref name="silo"/>: its <c>SiloAddress.ToParsableString()</c>).
    /// Robots spread their requests over the serving silos; a silo the cluster declares dead drops out by itself.
    /// </summary>
    [Alias("RegisterServingSilo")]
    Task RegisterServingSilo(string silo);

    /// <summary>The silos serving the model now (dead ones left out) and its first-exit time: what a robot grain routes by.</summary>
    [Alias("GetServing")]
    Task<ModelServing> GetServing();
}

/// <summary>
/// One per (model, GPU silo serving it), on that silo: key "{modelId}/{SiloAddress.ToParsableString()}". Batches the
/// concurrent requests of the robots that route to this silo.
/// </summary>
[Alias("a1.IInferenceGrain")]
public interface IInferenceGrain : IGrainWithStringKey
{
    [Alias("Infer")]
    Task<InferenceReply> Infer(InferenceCall call, CancellationToken cancellationToken = default);
}

/// <summary>A robot grain's request: the observation with the robot's context.</summary>
/// <param name="ActionsLeftMs">How long the arm can still move on the actions it holds when the call was handed on (its
/// robot grain's estimate: the last chunk ran from its observation at the robot's control rate; 0 when they have run
/// out), measured like <see cref="Observation.AgeMs"/>; null when unknown (no chunk yet, or no control rate). An
/// inference grain serves the requests of arms about to run out first.</param>
[GenerateSerializer, Immutable, Alias("a1.InferenceCall")]
public sealed record InferenceCall(
    [property: Id(0)] string RobotId,
    [property: Id(1)] string Instruction,
    [property: Id(2)] Observation Observation,
    [property: Id(3)] double BudgetMs,
    [property: Id(4)] DateTimeOffset ArrivedAt,
    [property: Id(5)] ulong Seed,
    [property: Id(6)] double? ActionsLeftMs = null);

[GenerateSerializer, Immutable, Alias("a1.InferenceReply")]
public sealed record InferenceReply(
    [property: Id(0)] bool Succeeded,
    [property: Id(1)] float[] Actions,
    [property: Id(2)] int Chunk,
    [property: Id(3)] int ActionDim,
    [property: Id(4)] InferenceStats? Stats,
    [property: Id(5)] string? Error,
    [property: Id(6)] Refusal? Refusal = null)
{
    public static InferenceReply Refused(Refusal refusal) => new(false, [], 0, 0, null, refusal.Detail, refusal);
}
