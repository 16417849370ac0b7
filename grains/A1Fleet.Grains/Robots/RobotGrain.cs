using System.IO.Hashing;
using System.Text;
using A1Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using A1Fleet.Grains.Fleet;
using Orleans.Concurrency;

namespace A1Fleet.Grains.Robots;

/// <summary>
/// One per arm. Holds the robot's context (task, budget, e-stop, lease) and forwards each observation
/// with it to an inference grain of the robot's model. Reentrant so an operator's e-stop is not
/// queued behind an in-flight inference call: the state it changes is read at the start of each Act.
/// </summary>
[Reentrant]
public sealed partial class RobotGrain : Grain, IRobotGrain
{
    private readonly IPersistentState<RobotState> _state;
    private readonly FleetOptions _options;
    private readonly FleetInstruments _instruments;
    private readonly TimeProvider _time;
    private readonly ILogger<RobotGrain> _logger;
    private readonly LatencyWindow _latencies = new();
    private IRobotAgentObserver? _observer;
    private ModelSpec? _model;
    private bool _countersDirty;

    public RobotGrain(
        [PersistentState("robot", FleetOptions.StorageName)] IPersistentState<RobotState> state,
        IOptions<FleetOptions> options,
        FleetInstruments instruments,
        TimeProvider time,
        ILogger<RobotGrain> logger)
    {
        _state = state;
        _options = options.Value;
        _instruments = instruments;
        _time = time;
        _logger = logger;
    }

    private RobotState S => _state.State;
    private string RobotId => this.GetPrimaryKeyString();
    private double BudgetMs => S.LatencyBudgetMs ?? _options.DefaultLatencyBudgetMs;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
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
    }

    public async Task<RobotLease> Bind(AgentRegistration registration, IRobotAgentObserver? observer, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(registration.AgentId))
        {
            throw new ArgumentException("an agent must name itself (AgentId) to bind");
        }

        var spec = await GrainFactory.GetGrain<IModelGrain>(registration.ModelId).GetSpec()
            ?? throw new ArgumentException($"model '{registration.ModelId}' is not served by any GPU silo (no silo has registered it)");

        var previous = _observer;
        var previousAgent = S.AgentId;
        S.Epoch++;
        S.AgentId = registration.AgentId;
        S.Embodiment = registration.Embodiment;
        S.ModelId = registration.ModelId;
        S.Tags = [.. registration.Tags];
        S.ControlHz = registration.ControlHz;
        S.LastSeen = _time.GetUtcNow();
        _observer = observer;
        _model = spec;
        await _state.WriteStateAsync(cancellationToken);
        LogBound(RobotId, registration.AgentId, S.Epoch, registration.Embodiment);

        // Only another agent loses the lease; an agent re-binding (after a silo failure, say) is the same holder.
        if (previous is not null && previousAgent != registration.AgentId)
        {
            await Notify(previous, new RobotCommand(RobotCommandKind.LeaseRevoked, S.Task, BudgetMs, S.Epoch));
        }

        await GrainFactory.GetGrain<IFleetGrain>(FleetGrainKeys.Default)
            .Register(new RobotEntry(RobotId, registration.Embodiment, [.. S.Tags], registration.ModelId));
        return new RobotLease(RobotId, S.Epoch, BudgetMs, S.Task, S.EStopped, spec);
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
        if (epoch != S.Epoch || S.ModelId is null)
        {
            return ActionChunk.Holding(observation.Sequence, S.Task, S.EStopped, ChunkStatus.LeaseLost,
                $"lease epoch {epoch} is not the current {S.Epoch}: bind again");
        }

        S.LastSeen = _time.GetUtcNow();
        S.Requests++;
        _countersDirty = true;
        var task = S.Task;
        if (S.EStopped || task is null)
        {
            S.Holds++;
            _instruments.OnHold(S.Embodiment?.ToString().ToLowerInvariant() ?? "unknown");
            return ActionChunk.Holding(observation.Sequence, task, S.EStopped) with { ObserverMissing = _observer is null };
        }

        var call = new InferenceCall(RobotId, task.Instruction, observation, BudgetMs, _time.GetUtcNow(), Seed(observation.Sequence));
        InferenceReply reply;
        try
        {
            reply = await GrainFactory.GetGrain<IInferenceGrain>(InferenceGrainKey(S.ModelId)).Infer(call, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            S.Errors++;
            LogInferenceUnavailable(ex, RobotId);
            return ActionChunk.Holding(observation.Sequence, task, S.EStopped, ChunkStatus.Error, $"inference unavailable: {ex.Message}");
        }

        // An e-stop or a new task that arrived while the request was in flight wins over its result.
        if (S.EStopped || S.Task?.Version != task.Version)
        {
            S.Holds++;
            return ActionChunk.Holding(observation.Sequence, S.Task, S.EStopped);
        }

        if (!reply.Succeeded)
        {
            S.Errors++;
            return ActionChunk.Holding(observation.Sequence, task, false, ChunkStatus.Error, reply.Error);
        }

        S.Chunks++;
        if (reply.Stats is { } stats)
        {
            S.ExitLayerSum += stats.ExitLayer;
            _latencies.Add(stats.TotalMs);
            if (stats.BudgetMissed)
            {
                S.BudgetMisses++;
            }
        }

        return new ActionChunk(observation.Sequence, ChunkStatus.Ok, reply.Actions, reply.Chunk, reply.ActionDim, reply.Stats, task, false, null, _observer is null);
    }

    public Task<bool> Heartbeat(long epoch)
    {
        // Lease expiry is enforced by the lease work of the trust issue; until then a heartbeat only reports ownership.
        if (epoch != S.Epoch)
        {
            return Task.FromResult(false);
        }

        S.LastSeen = _time.GetUtcNow();
        return Task.FromResult(true);
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
        await _state.WriteStateAsync();
        await Notify(_observer, new RobotCommand(RobotCommandKind.TaskChanged, S.Task, BudgetMs, S.Epoch));
    }

    public async Task ClearTask(string by)
    {
        S.TaskVersion++;
        S.Task = null;
        await _state.WriteStateAsync();
        await Notify(_observer, new RobotCommand(RobotCommandKind.TaskChanged, null, BudgetMs, S.Epoch));
    }

    public async Task SetLatencyBudget(double budgetMs)
    {
        if (InputRules.LatencyBudget(budgetMs) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(budgetMs), budgetMs, problem);
        }

        S.LatencyBudgetMs = budgetMs;
        await _state.WriteStateAsync();
        await Notify(_observer, new RobotCommand(RobotCommandKind.BudgetChanged, S.Task, budgetMs, S.Epoch));
    }

    public async Task EStop(string by)
    {
        S.EStopped = true;
        S.EStoppedBy = by;
        // The agent hears it first: the push is what makes the stop take effect within a control period.
        await Notify(_observer, new RobotCommand(RobotCommandKind.EStop, S.Task, BudgetMs, S.Epoch));
        await _state.WriteStateAsync();
        LogEStopped(RobotId, by);
    }

    public async Task Resume(string by)
    {
        S.EStopped = false;
        S.EStoppedBy = null;
        await _state.WriteStateAsync();
        await Notify(_observer, new RobotCommand(RobotCommandKind.Resume, S.Task, BudgetMs, S.Epoch));
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
            S.Chunks == 0 ? 0 : S.ExitLayerSum / S.Chunks, _latencies.Percentile(0.5), _latencies.Percentile(0.99)),
        S.Tags,
        S.ControlHz);

    private async Task FlushCounters()
    {
        if (_countersDirty)
        {
            _countersDirty = false;
            await _state.WriteStateAsync();
        }
    }

    private async Task Notify(IRobotAgentObserver? observer, RobotCommand command)
    {
        if (observer is null)
        {
            return;
        }

        try
        {
            await observer.OnCommand(command).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception ex)
        {
            // The agent also learns of the change on its next request; a dead agent must not block operators.
            LogNotifyFailed(ex, RobotId, command.Kind);
        }
    }

    private string InferenceGrainKey(string modelId) =>
        $"{modelId}/{XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(RobotId)) % (uint)_options.InferencePartitions}";

    /// <summary>Noise seed per (robot, observation): reproducible, different across robots and steps.</summary>
    private ulong Seed(long sequence) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(RobotId)) ^ (ulong)sequence * 0x9E3779B97F4A7C15UL;

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Robot {RobotId} bound to agent {AgentId} (epoch {Epoch}, {Embodiment})")]
    private partial void LogBound(string robotId, string agentId, long epoch, Embodiment embodiment);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Robot {RobotId}: e-stop by {By}")]
    private partial void LogEStopped(string robotId, string by);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Robot {RobotId}: inference unavailable")]
    private partial void LogInferenceUnavailable(Exception exception, string robotId);

    [LoggerMessage(EventId = 304, Level = LogLevel.Debug, Message = "Robot {RobotId}: counters not flushed at shutdown")]
    private partial void LogCountersNotFlushed(Exception exception, string robotId);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "Robot {RobotId}: could not push {Kind} to its agent")]
    private partial void LogNotifyFailed(Exception exception, string robotId, RobotCommandKind kind);
}
