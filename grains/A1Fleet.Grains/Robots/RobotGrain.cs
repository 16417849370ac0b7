using System.IO.Hashing;
using System.Text;
using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using A1Fleet.Grains.Fleet;
using Orleans.Concurrency;
using Orleans.Storage;

namespace A1Fleet.Grains.Robots;

/// <summary>
/// One per arm. Holds the robot's context (task, budget, e-stop, lease) and forwards each observation
/// with it to an inference grain of the robot's model. Reentrant so an operator's e-stop is not
/// queued behind an in-flight inference call: the state it changes is read at the start of each Act.
/// <para>Lease: the holder keeps the robot while it calls Act or Heartbeat within <see cref="RobotOptions.LeaseTtl"/>;
/// meanwhile another agent's bind is refused. The last heartbeat lives in memory (a heartbeat is not worth a write);
/// after a reactivation it is bounded by the persisted <see cref="RobotState.LastSeen"/>, which lags the true last
/// request by at most one counter flush, so a holder alive through a silo failover keeps its robot.</para>
/// </summary>
[Reentrant]
#pragma warning disable CA1001 // _writes is disposed on deactivation, the grain's end of life
public sealed partial class RobotGrain : Grain, IRobotGrain
{
    private readonly IPersistentState<RobotState> _state;
    private readonly RobotOptions _options;
    private readonly FleetInstruments _instruments;
    private readonly TimeProvider _time;
    private readonly ArmActions _armActions;
    private readonly ILogger<RobotGrain> _logger;
    private readonly IClusterMembershipService _membership;
    private readonly LatencyWindow _latencies = new();
    private readonly InferenceRouter _router;
    private bool _refreshing;
    private readonly SemaphoreSlim _writes = new(1, 1);
    private IRobotAgentObserver? _observer;
    private DateTimeOffset? _heartbeatAt;
    private ModelSpec? _model;
    private bool _countersDirty;

    public RobotGrain(
        [PersistentState("robot", FleetOptions.StorageName)] IPersistentState<RobotState> state,
        IOptions<RobotOptions> options,
        IOptions<InferenceBatchingOptions> batching,
        FleetInstruments instruments,
        SiloAnswers answers,
        TimeProvider time,
        IClusterMembershipService membership,
        ILogger<RobotGrain> logger)
    {
        _membership = membership;
        _state = state;
        _options = options.Value;
        _instruments = instruments;
        _time = time;
        _armActions = new ArmActions(time);
        _logger = logger;
        _router = new InferenceRouter(time, answers, batching.Value.DeadlineMargin.TotalMilliseconds, _options.HedgeTransport.TotalMilliseconds);
    }

    private RobotState S => _state.State;
    private string RobotId => this.GetPrimaryKeyString();
    private double BudgetMs => S.LatencyBudgetMs ?? _options.DefaultLatencyBudget.TotalMilliseconds;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.AgentId is not null && S.LastSeen is { } seen)
        {
            var latest = seen + _options.CounterFlushInterval;
            var now = _time.GetUtcNow();
            _heartbeatAt = latest < now ? latest : now;
        }

        this.RegisterGrainTimer(static (grain, _) => grain.FlushCounters(), this,
            new GrainTimerCreationOptions(_options.CounterFlushInterval, _options.CounterFlushInterval) { Interleave = true, KeepAlive = false });
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await FlushCounters();
        }
        catch (Exception ex) when (reason.ReasonCode == DeactivationReasonCode.ShuttingDown)
        {
            // The whole silo is going away (with memory storage, the store is already gone): counters
            // since the last flush are lost, which is what memory storage promises anyway.
            LogCountersNotFlushed(ex, RobotId);
        }
        finally
        {
            _writes.Dispose();
        }
    }

    public async Task<RobotLease> Bind(AgentRegistration registration, IRobotAgentObserver? observer, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(registration.AgentId))
        {
            throw new ArgumentException("an agent must name itself (AgentId) to bind");
        }

        EnsureBindable(registration.AgentId, _time.GetUtcNow());
        var spec = await GrainFactory.GetGrain<IModelGrain>(registration.ModelId).GetSpec()
            ?? throw new ArgumentException($"model '{registration.ModelId}' is not served by any GPU silo (no silo has registered it)");

        // Again after the await: the grain is reentrant and another bind may have won meanwhile.
        var now = _time.GetUtcNow();
        EnsureBindable(registration.AgentId, now);
        S.Epoch++;
        S.AgentId = registration.AgentId;
        S.Embodiment = registration.Embodiment;
        S.ModelId = registration.ModelId;
        S.Tags = [.. registration.Tags];
        S.ControlHz = registration.ControlHz;
        _armActions.Bound(_time.GetTimestamp(), registration.ControlHz);
        S.LastSeen = now;
        S.ReservedFor = null;
        S.ReservedUntil = null;
        _heartbeatAt = now;
        _observer = observer;
        _model = spec;
        await PersistAsync();
        LogBound(RobotId, registration.AgentId, S.Epoch, registration.Embodiment);

        // No LeaseRevoked push here: a different agent only gets this far once the previous holder has lapsed
        // (or was released, which pushed it), and a silent agent is not waited on; it learns from LeaseLost.

        await GrainFactory.GetGrain<IFleetGrain>(FleetGrainKeys.Default)
            .Register(new RobotEntry(RobotId, registration.Embodiment, [.. S.Tags], registration.ModelId));
        return new RobotLease(RobotId, S.Epoch, BudgetMs, S.Task, S.EStopped, spec, S.EStopGeneration);
    }

    public Task Subscribe(long epoch, IRobotAgentObserver observer)
    {
        if (epoch == S.Epoch)
        {
            _observer = observer;
        }

        return Task.CompletedTask;
    }

    public async Task<ActionChunk> Act(long epoch, Observation observation, CancellationToken cancellationToken = default)
    {
        var arrived = _time.GetTimestamp();
        if (epoch != S.Epoch || S.AgentId is null || S.ModelId is null)
        {
            return Issued(ActionChunk.Holding(observation.Sequence, S.Task, S.EStopped, ChunkStatus.LeaseLost,
                $"lease epoch {epoch} is not the current {S.Epoch}{(S.AgentId is null ? " (released: no agent holds the robot)" : "")}: bind again"));
        }

        var now = _time.GetUtcNow();
        S.LastSeen = now;
        _heartbeatAt = now;
        S.Requests++;
        _countersDirty = true;
        var task = S.Task;
        var generation = S.EStopGeneration;
        if (observation.Instruction is { } prompt && InputRules.Instruction(prompt, "prompt") is { } badPrompt)
        {
            S.Errors++;
            return Issued(ActionChunk.Holding(observation.Sequence, task, S.EStopped, ChunkStatus.Error, badPrompt));
        }

        if (observation.ActionsHeld is { } held)
        {
            if (InputRules.ActionsHeld(held, _model?.Chunk) is { } badHeld)
            {
                S.Errors++;
                return Issued(ActionChunk.Holding(observation.Sequence, task, S.EStopped, ChunkStatus.Error, badHeld));
            }

            _armActions.Reported(arrived, observation.AgeMs, held, S.ControlHz);
        }

        // A compatible client's prompt (set only where the robot's profile lets it win) stands in for the assigned task.
        var instruction = observation.Instruction ?? task?.Instruction;
        if (S.EStopped || instruction is null)
        {
            S.Holds++;
            _instruments.OnHold(S.Embodiment?.ToString().ToLowerInvariant() ?? "unknown");
            return Issued(ActionChunk.Holding(observation.Sequence, task, S.EStopped) with { ObserverMissing = _observer is null });
        }

        // Handed on with its age: the inference grain, maybe on another silo, anchors the deadline on its own clock.
        var handedOn = _time.GetTimestamp();
        var aged = observation with { AgeMs = observation.AgeMs + _time.GetElapsedTime(arrived, handedOn).TotalMilliseconds };
        var actionsLeftMs = _armActions.LeftMs(handedOn);
        var call = new InferenceCall(RobotId, instruction, aged, BudgetMs, _time.GetUtcNow(), Seed(observation.Sequence), actionsLeftMs);
        InferenceReply reply;
        try
        {
            reply = await Infer(S.ModelId, call, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            S.Errors++;
            LogInferenceUnavailable(ex, RobotId);
            return Issued(ActionChunk.Holding(observation.Sequence, task, S.EStopped, ChunkStatus.Error, $"inference unavailable: {ex.Message}"));
        }

        // An e-stop (even one already resumed), a new task or a released lease that arrived while the request was
        // in flight wins over its result: the chunk was computed for a situation that no longer holds.
        if (epoch != S.Epoch)
        {
            return Issued(ActionChunk.Holding(observation.Sequence, S.Task, S.EStopped, ChunkStatus.LeaseLost, $"lease epoch {epoch} ended while the request was in flight: bind again"));
        }

        if (S.EStopped || S.EStopGeneration != generation || S.Task?.Version != task?.Version)
        {
            S.Holds++;
            return Issued(ActionChunk.Holding(observation.Sequence, S.Task, S.EStopped));
        }

        if (reply.Refusal is { } refusal)
        {
            // Not an error and not a hold: the agent keeps executing what it has and asks again after the hint.
            S.Refusals++;
            return Issued(ActionChunk.Holding(observation.Sequence, task, false, ChunkStatus.Refused, refusal.Detail) with { RetryAfterMs = refusal.RetryAfterMs });
        }

        if (!reply.Succeeded)
        {
            S.Errors++;
            return Issued(ActionChunk.Holding(observation.Sequence, task, false, ChunkStatus.Error, reply.Error));
        }

        S.Chunks++;
        _armActions.Issued(arrived, observation.AgeMs, reply.Chunk, S.ControlHz);
        if (reply.Stats is { } stats)
        {
            S.ExitLayerSum += stats.ExitLayer;
            _latencies.Add(stats.TotalMs);
            if (stats.BudgetMissed)
            {
                S.BudgetMisses++;
            }

            if (stats.ForcedExit)
            {
                S.ForcedExits++;
            }
        }

        return new ActionChunk(observation.Sequence, ChunkStatus.Ok, reply.Actions, reply.Chunk, reply.ActionDim, reply.Stats, task, false, null, _observer is null,
            epoch, task?.Version ?? 0, generation);
    }

    public Task<bool> Heartbeat(long epoch)
    {
        if (epoch != S.Epoch || S.AgentId is null)
        {
            return Task.FromResult(false);
        }

        var now = _time.GetUtcNow();
        _heartbeatAt = now;
        S.LastSeen = now;
        // Persisted with the next counter flush: that bounds how stale LastSeen is after a reactivation.
        _countersDirty = true;
        return Task.FromResult(true);
    }

    public async Task<bool> Unbind(long epoch, string agentId)
    {
        if (epoch != S.Epoch || S.AgentId is null || !string.Equals(S.AgentId, agentId, StringComparison.Ordinal))
        {
            return false;
        }

        // A new epoch, as a release: anything still in flight under the old one is answered LeaseLost.
        S.Epoch++;
        S.AgentId = null;
        _observer = null;
        _heartbeatAt = null;
        await PersistAsync();
        LogUnbound(RobotId, agentId, epoch);
        return true;
    }

    public async Task<RobotStatus> ReleaseLease(string by, string? successorAgentId = null)
    {
        var now = _time.GetUtcNow();
        var holder = S.AgentId;
        var observer = _observer;
        var holderAlive = HolderAlive(now);
        if (holder is not null)
        {
            // A new epoch: whatever the old holder sends from now on is refused (LeaseLost).
            S.Epoch++;
        }

        S.AgentId = null;
        S.ReservedFor = string.IsNullOrWhiteSpace(successorAgentId) ? null : successorAgentId.Trim();
        S.ReservedUntil = S.ReservedFor is null ? null : now + _options.LeaseReservation;
        _observer = null;
        _heartbeatAt = null;
        await PersistAsync();
        LogLeaseReleased(RobotId, holder ?? "(none)", by, S.ReservedFor ?? "(any agent)");
        if (holder is not null && holderAlive)
        {
            await Push(observer, Command(RobotCommandKind.LeaseRevoked));
        }

        return Status();
    }

    [ReadOnly]
    public Task<RobotStatus> GetStatus() => Task.FromResult(Status());

    public async Task AssignTask(string instruction, string assignedBy)
    {
        if (string.IsNullOrWhiteSpace(instruction))
        {
            throw new ArgumentException("instruction is empty");
        }

        S.TaskVersion++;
        S.Task = new RobotTask(instruction.Trim(), _time.GetUtcNow(), assignedBy, S.TaskVersion);
        await PersistAsync();
        await Notify(Command(RobotCommandKind.TaskChanged));
    }

    public async Task ClearTask(string by)
    {
        S.TaskVersion++;
        S.Task = null;
        await PersistAsync();
        await Notify(Command(RobotCommandKind.TaskChanged));
    }

    public async Task SetLatencyBudget(double budgetMs)
    {
        if (InputRules.LatencyBudget(budgetMs) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(budgetMs), budgetMs, problem);
        }

        S.LatencyBudgetMs = budgetMs;
        await PersistAsync();
        await Notify(Command(RobotCommandKind.BudgetChanged));
    }

    public async Task<EStopConfirmation> EStop(string by)
    {
        // Only a transition opens a new generation: a retried e-stop of a stopped robot is the same stop.
        if (!S.EStopped)
        {
            S.EStopped = true;
            S.EStopGeneration++;
            S.EStoppedBy = by;
        }

        // In memory the robot is stopped from here on (every Act holds); persisted is what survives this
        // activation, so that is what confirms. The push goes out at once, not after the write: stopping sooner is never wrong.
        var confirmation = await PersistThenPush(RobotCommandKind.EStop);
        LogEStopped(RobotId, by, S.EStopGeneration, confirmation.Persisted, confirmation.Pushed);
        return confirmation;
    }

    public async Task<EStopConfirmation> Resume(string by)
    {
        S.EStopped = false;
        S.EStoppedBy = null;
        var confirmation = await PersistThenPush(RobotCommandKind.Resume);
        LogResumed(RobotId, by, S.EStopGeneration, confirmation.Persisted);
        return confirmation;
    }

    public Task ReportAgentCounters(long epoch, AgentCounters counters)
    {
        if (epoch == S.Epoch)
        {
            S.Agent = counters;
            _countersDirty = true;
        }

        return Task.CompletedTask;
    }

    private RobotStatus Status() => new(
        RobotId,
        S.Embodiment,
        S.ModelId,
        S.Task,
        S.EStopped,
        BudgetMs,
        S.AgentId,
        S.Epoch,
        S.LastSeen,
        new RobotCounters(S.Requests, S.Chunks, S.BudgetMisses, S.Holds, S.Errors,
            S.Chunks == 0 ? 0 : S.ExitLayerSum / S.Chunks, _latencies.Percentile(0.5), _latencies.Percentile(0.99), S.Refusals, S.ForcedExits,
            S.Agent?.Episodes ?? 0, S.Agent?.Successes ?? 0),
        S.Tags,
        S.ControlHz,
        HolderAlive(_time.GetUtcNow()),
        S.EStopGeneration);

    /// <summary>The holder called Act or Heartbeat within the lease TTL.</summary>
    private bool HolderAlive(DateTimeOffset now) => S.AgentId is not null && _heartbeatAt is { } at && now - at < _options.LeaseTtl;

    private void EnsureBindable(string agentId, DateTimeOffset now)
    {
        if (S.AgentId is { } holder && holder != agentId && HolderAlive(now))
        {
            throw new LeaseHeldException(RobotId, holder, _heartbeatAt!.Value + _options.LeaseTtl);
        }

        if (S.ReservedFor is { } successor && successor != agentId && S.ReservedUntil is { } until && now < until)
        {
            throw new LeaseHeldException($"robot '{RobotId}' was released by an operator to agent '{successor}', which may bind until {until:O}: " +
                                         "refusing other agents until then")
            {
                RobotId = RobotId,
                HolderAgentId = successor,
                ExpiresAt = until,
            };
        }
    }

    private ActionChunk Issued(ActionChunk chunk) => chunk with { Epoch = S.Epoch, TaskVersion = S.TaskVersion, EStopGeneration = S.EStopGeneration };

    private RobotCommand Command(RobotCommandKind kind) => new(kind, S.Task, BudgetMs, S.Epoch, S.EStopGeneration);

    /// <summary>
    /// Persists the e-stop or resume and pushes it to the agent. An e-stop is pushed at once, while it is written (the
    /// write may queue behind a counter flush and takes a storage round trip): stopping sooner is never wrong, and if
    /// the write fails the operator is told it is not confirmed and retries. A resume is pushed only once persisted: an
    /// arm must not move again on a resume that a reactivation could forget.
    /// </summary>
    private async Task<EStopConfirmation> PersistThenPush(RobotCommandKind kind)
    {
        var early = kind == RobotCommandKind.EStop ? PushEverywhere(Command(kind)) : null;
        string? error = null;
        DateTimeOffset? persistedAt = null;
        try
        {
            await PersistAsync();
            persistedAt = _time.GetUtcNow();
        }
        catch (Exception ex)
        {
            error = $"robot '{RobotId}': {kind} not persisted: {ex.Message}";
            LogPersistFailed(ex, RobotId, kind);
            if (ex is InconsistentStateException)
            {
                // Our copy is behind the store; a fresh activation reads it back, and the caller's retry lands there.
                DeactivateOnIdle();
            }
        }

        var online = HolderAlive(_time.GetUtcNow());
        var pushed = await (early ?? PushEverywhere(Command(kind)));
        return new EStopConfirmation(RobotId, S.EStopGeneration, error is null, pushed, online, error, persistedAt);
    }

    /// <summary>
    /// Pushes <paramref name="command"/> to the observer while the holder is alive, and also through every silo's gateway,
    /// whatever the observer and the lease clock say: after this grain reactivated on a survivor it has no observer (and
    /// its heartbeat clock is a guess), while the agent's stream is open on some gateway. Relaying reaches it now instead
    /// of at that gateway's next stream check. Repeats are harmless. True when either reached the agent.
    /// </summary>
    private async Task<bool> PushEverywhere(RobotCommand command)
    {
        var direct = HolderAlive(_time.GetUtcNow()) ? Push(_observer, command) : Task.FromResult(false);
        var relayed = Relay(command);
        return await direct | await relayed;
    }

    private async Task FlushCounters()
    {
        if (_countersDirty)
        {
            await PersistAsync();
        }
    }

    /// <summary>
    /// Writes one at a time: the grain is reentrant and the flush timer interleaves with commands, and two
    /// overlapping writes would carry the same ETag, so the second would be refused as inconsistent (and an
    /// e-stop could be lost with it). Orleans 10.4.2's state bridge already runs one storage operation at a time
    /// per activation (measured: tens of overlapping WriteStateAsync calls reached the store as a few sequential
    /// writes); this gate keeps the guarantee ours, whatever the runtime version, as CalibrationJobGrain does.
    /// </summary>
    /// <remarks>Every write carries the counters as they stand, so it leaves the next flush nothing to write unless they
    /// change again: a robot given back (<see cref="Unbind"/>) is written once, not again by its flush timer or at
    /// deactivation.</remarks>
    private async Task PersistAsync()
    {
        await _writes.WaitAsync();
        try
        {
            _countersDirty = false;
            await _state.WriteStateAsync(CancellationToken.None);
        }
        catch
        {
            _countersDirty = true;
            throw;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Pushes to the holder only while it is alive: a command to an offline robot never waits on its dead agent.</summary>
    private async Task Notify(RobotCommand command)
    {
        if (HolderAlive(_time.GetUtcNow()))
        {
            await Push(_observer, command);
        }
    }

    private async Task<bool> Push(IRobotAgentObserver? observer, RobotCommand command)
    {
        if (observer is null)
        {
            return false;
        }

        try
        {
            await observer.OnCommand(command).WaitAsync(PushTimeout, _time);
            return true;
        }
        catch (Exception ex)
        {
            // The agent also learns of the change on its next request; a dead agent must not block operators.
            LogNotifyFailed(ex, RobotId, command.Kind);
            return false;
        }
    }

    /// <summary>Hands <paramref name="command"/> to every active silo's relay; true when one held the robot's stream.</summary>
    private async Task<bool> Relay(RobotCommand command)
    {
        var silos = _membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress.ToParsableString());
        var delivered = await Task.WhenAll(silos.Select(async silo =>
        {
            try
            {
                return await GrainFactory.GetGrain<IRobotCommandRelayGrain>(silo).Deliver(RobotId, command).WaitAsync(RelayTimeout, _time);
            }
            catch (Exception ex)
            {
                // A silo that died but is not yet declared dead: the others carry the command.
                LogRelayFailed(ex, RobotId, command.Kind, silo);
                return false;
            }
        }));
        return delivered.Any(d => d);
    }

    /// <summary>Longest a relay may take: a silo that died but is still listed must not hold up the operator's answer.</summary>
    private static readonly TimeSpan RelayTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest a push to a live agent may take before the command answers without it.</summary>
    private static readonly TimeSpan PushTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Sends the request to the model's serving silos through <see cref="_router"/> (hedged, failed over). The serving list
    /// is cached: a request waits on the model grain only when no active serving silo is known; otherwise a due refresh
    /// runs beside it.
    /// </summary>
    private async Task<InferenceReply> Infer(string modelId, InferenceCall call, CancellationToken cancellationToken)
    {
        var snapshot = _membership.CurrentSnapshot;
        _router.SetActive(snapshot.Version.Value, () => snapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress.ToParsableString())
            .ToHashSet(StringComparer.Ordinal));
        if (_router.NeedsServing(modelId))
        {
            await RefreshServing(modelId);
        }
        else if (_router.RefreshDue && !_refreshing)
        {
            _refreshing = true;
            _ = RefreshServingInBackground(modelId);
        }

        var routed = await _router.SendAsync(RobotId, call.BudgetMs - call.Observation.AgeMs,
            (silo, elapsedMs, ct) => GrainFactory.GetGrain<IInferenceGrain>($"{modelId}/{silo}")
                .Infer(elapsedMs <= 0 ? call : call with
                {
                    Observation = call.Observation with { AgeMs = call.Observation.AgeMs + elapsedMs },
                    ActionsLeftMs = call.ActionsLeftMs is { } left ? Math.Max(0, left - elapsedMs) : null,
                }, ct),
            cancellationToken);
        if (routed.Hedged)
        {
            _instruments.OnHedged(modelId, routed.HedgeWon);
        }

        if (routed.Failovers > 0)
        {
            _instruments.OnFailover(modelId, "silo_unavailable", routed.Failovers);
            LogFailedOver(RobotId, routed.Failovers, routed.Silo ?? "(none answered)");
        }

        if (routed.RefusalRetries > 0)
        {
            _instruments.OnFailover(modelId, "queue_full", routed.RefusalRetries);
        }

        return routed.Reply ?? throw routed.Error!;
    }

    private async Task RefreshServing(string modelId)
    {
        var version = _membership.CurrentSnapshot.Version.Value;
        var serving = await GrainFactory.GetGrain<IModelGrain>(modelId).GetServing();
        _router.SetServing(modelId, serving, version);
    }

    private async Task RefreshServingInBackground(string modelId)
    {
        try
        {
            await RefreshServing(modelId);
        }
        catch (Exception ex)
        {
            // The cached list still routes; the next request tries again.
            LogServingRefreshFailed(ex, RobotId, modelId);
        }
        finally
        {
            _refreshing = false;
        }
    }

    /// <summary>Noise seed per (robot, observation): reproducible, different across robots and steps.</summary>
    private ulong Seed(long sequence) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(RobotId)) ^ (ulong)sequence * 0x9E3779B97F4A7C15UL;

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Robot {RobotId} bound to agent {AgentId} (epoch {Epoch}, {Embodiment})")]
    private partial void LogBound(string robotId, string agentId, long epoch, Embodiment embodiment);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Robot {RobotId}: e-stop by {By} (generation {Generation}, persisted {Persisted}, pushed {Pushed})")]
    private partial void LogEStopped(string robotId, string by, long generation, bool persisted, bool pushed);

    [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Robot {RobotId}: resumed by {By} (e-stop generation {Generation}, persisted {Persisted})")]
    private partial void LogResumed(string robotId, string by, long generation, bool persisted);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Robot {RobotId}: lease of agent {Holder} released by {By}; next holder: {Successor}")]
    private partial void LogLeaseReleased(string robotId, string holder, string by, string successor);

    [LoggerMessage(EventId = 307, Level = LogLevel.Error, Message = "Robot {RobotId}: {Kind} could not be persisted")]
    private partial void LogPersistFailed(Exception exception, string robotId, RobotCommandKind kind);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Robot {RobotId}: inference unavailable")]
    private partial void LogInferenceUnavailable(Exception exception, string robotId);

    [LoggerMessage(EventId = 310, Level = LogLevel.Information, Message = "Robot {RobotId}: inference failed over {Failovers} time(s), answered by silo {Silo}")]
    private partial void LogFailedOver(string robotId, int failovers, string silo);

    [LoggerMessage(EventId = 311, Level = LogLevel.Debug, Message = "Robot {RobotId}: could not refresh the silos serving {ModelId}")]
    private partial void LogServingRefreshFailed(Exception exception, string robotId, string modelId);

    [LoggerMessage(EventId = 304, Level = LogLevel.Debug, Message = "Robot {RobotId}: counters not flushed at shutdown")]
    private partial void LogCountersNotFlushed(Exception exception, string robotId);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "Robot {RobotId}: could not push {Kind} to its agent")]
    private partial void LogNotifyFailed(Exception exception, string robotId, RobotCommandKind kind);

    [LoggerMessage(EventId = 309, Level = LogLevel.Debug, Message = "Robot {RobotId}: could not relay {Kind} through silo {Silo}")]
    private partial void LogRelayFailed(Exception exception, string robotId, RobotCommandKind kind, string silo);

    [LoggerMessage(EventId = 308, Level = LogLevel.Information, Message = "Robot {RobotId}: agent {AgentId} gave back its lease (epoch {Epoch})")]
    private partial void LogUnbound(string robotId, string agentId, long epoch);
}
#pragma warning restore CA1001
