using A1Fleet.Grains;
using A1Fleet.RobotAgent.Tests.Control;
using A1Fleet.RobotAgent.Tests.Support;

namespace A1Fleet.RobotAgent.Tests.Cluster;

/// <summary>
/// A robot grain that behaves like the real one at the agent's door (epochs, leases, holds, observer pushes)
/// and fails on demand like a dead silo. Answers synchronously; time is the test's business.
/// </summary>
internal sealed class FakeRobotGrain : IRobotGrain
{
    public ModelSpec Model { get; set; } = TestModels.Spec();

    public long Epoch { get; set; }

    public bool EStopped { get; set; }

    /// <summary>What the real grain numbers e-stops with; chunks and leases carry it.</summary>
    public long EStopGeneration { get; set; }

    public RobotTask? Task { get; set; } = new("pick the cube", DateTimeOffset.UnixEpoch, "test", 1);

    public IRobotAgentObserver? Observer { get; private set; }

    public AgentRegistration? Registration { get; private set; }

    public int Binds { get; private set; }

    public int Acts { get; private set; }

    /// <summary>Bind calls to fail before binds succeed again.</summary>
    public int FailBinds { get; set; }

    /// <summary>Thrown by Bind while set: what a bind refused by a live holder looks like.</summary>
    public Exception? BindFailure { get; set; }

    /// <summary>Thrown by Act while set: what a dead silo looks like to a client.</summary>
    public Exception? ActFailure { get; set; }

    /// <summary>Answers Bind with a task that never completes.</summary>
    public bool HangBinds { get; set; }

    /// <summary>Answers Act with a task that never completes (a hung silo).</summary>
    public bool Hang { get; set; }

    public List<AgentCounters> Reports { get; } = [];

    /// <summary>While set, Act answers "not now" with this retry hint (ms).</summary>
    public double? RefuseWithRetryMs { get; set; }

    /// <summary>Every observation Act received, as sent.</summary>
    public List<Observation> Observations { get; } = [];

    public Task<RobotLease> Bind(AgentRegistration registration, IRobotAgentObserver? observer, CancellationToken cancellationToken = default)
    {
        Binds++;
        if (HangBinds)
        {
            return new TaskCompletionSource<RobotLease>().Task;
        }

        if (BindFailure is not null)
        {
            throw BindFailure;
        }

        if (FailBinds > 0)
        {
            FailBinds--;
            throw new Orleans.Runtime.SiloUnavailableException("silo 10.0.0.7:11111 is dead");
        }

        var previous = Observer;
        Epoch++;
        Registration = registration;
        Observer = observer;
        previous?.OnCommand(new RobotCommand(RobotCommandKind.LeaseRevoked, Task, 200, Epoch));
        return System.Threading.Tasks.Task.FromResult(new RobotLease("arm-1", Epoch, 200, Task, EStopped, Model, EStopGeneration));
    }

    public Task<ActionChunk> Act(long epoch, Observation observation, CancellationToken cancellationToken = default)
    {
        Acts++;
        Observations.Add(observation);
        if (ActFailure is not null)
        {
            throw ActFailure;
        }

        if (Hang)
        {
            return new TaskCompletionSource<ActionChunk>().Task;
        }

        if (epoch != Epoch)
        {
            return System.Threading.Tasks.Task.FromResult(ActionChunk.Holding(observation.Sequence, Task, EStopped, ChunkStatus.LeaseLost, $"lease epoch {epoch} is not the current {Epoch}"));
        }

        if (EStopped || Task is null)
        {
            return System.Threading.Tasks.Task.FromResult(ActionChunk.Holding(observation.Sequence, Task, EStopped) with
            {
                Epoch = Epoch,
                TaskVersion = Task?.Version ?? 0,
                EStopGeneration = EStopGeneration,
            });
        }

        if (RefuseWithRetryMs is { } retry)
        {
            return System.Threading.Tasks.Task.FromResult(ActionChunk.Holding(observation.Sequence, Task, false, ChunkStatus.Refused, "not now") with
            {
                Epoch = Epoch,
                RetryAfterMs = retry,
            });
        }

        var actions = ReferenceMotion.Chunk(Acts, Model.Chunk, 20);
        return System.Threading.Tasks.Task.FromResult(new ActionChunk(observation.Sequence, ChunkStatus.Ok, actions, Model.Chunk, 8, null, Task, false, null,
            Epoch: Epoch, TaskVersion: Task.Version, EStopGeneration: EStopGeneration));
    }

    public int Subscriptions { get; private set; }

    public Task Subscribe(long epoch, IRobotAgentObserver observer)
    {
        Subscriptions++;
        Observer = observer;
        return System.Threading.Tasks.Task.CompletedTask;
    }

    public int Heartbeats { get; private set; }

    /// <summary>Answered like the grain: true while <paramref name="epoch"/> is the current one.</summary>
    public Task<bool> Heartbeat(long epoch)
    {
        Heartbeats++;
        return System.Threading.Tasks.Task.FromResult(epoch == Epoch);
    }

    public Task ReportAgentCounters(long epoch, AgentCounters counters)
    {
        Reports.Add(counters);
        return System.Threading.Tasks.Task.CompletedTask;
    }

    public Task<RobotStatus> GetStatus() => throw new NotSupportedException();

    public Task AssignTask(string instruction, string assignedBy) => throw new NotSupportedException();

    public Task ClearTask(string by) => throw new NotSupportedException();

    public Task SetLatencyBudget(double budgetMs) => throw new NotSupportedException();

    public Task<EStopConfirmation> EStop(string by) => throw new NotSupportedException();

    public Task<EStopConfirmation> Resume(string by) => throw new NotSupportedException();

    public Task<RobotStatus> ReleaseLease(string by, string? successorAgentId = null) => throw new NotSupportedException();

    public Task<bool> Unbind(long epoch, string agentId) => throw new NotSupportedException();
}
