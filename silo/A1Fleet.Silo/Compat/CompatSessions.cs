using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.Silo.RobotGateway;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Compat;

/// <summary>Why a compatible client cannot be served now; each protocol turns it into its own answer.</summary>
public enum CompatFailure
{
    /// <summary>The robot has no profile for this protocol: an operator must set one.</summary>
    NotConfigured,

    /// <summary>The profile's model is served by no GPU silo (A1: 503 "Model not loaded").</summary>
    ModelNotServed,

    /// <summary>Another live agent holds the robot.</summary>
    LeaseHeld,

    /// <summary>The session's lease ended (an operator released it, or another agent bound): connect again.</summary>
    LeaseLost,

    /// <summary>The observation is wrong; the message starts with the field.</summary>
    Invalid,

    /// <summary>The robot is e-stopped: no motion until an operator resumes it.</summary>
    EStopped,

    /// <summary>The robot holds: no instruction (no prompt where the prompt may win, no assigned task).</summary>
    NoInstruction,

    /// <summary>Inference failed or the fleet could not answer.</summary>
    Failed,

    /// <summary>The credential was revoked since the session began (openpi checks it on every frame).</summary>
    Unauthenticated,

    /// <summary>The robot is over its request rate.</summary>
    RateLimited,

    /// <summary>
    /// Not now: the fleet could not answer by the request's deadline (or is over its bounds) and refused at once rather
    /// than answer late (<see cref="ChunkStatus.Refused"/>); <see cref="CompatException.RetryAfter"/> says when to ask again.
    /// </summary>
    Refused,
}

public sealed class CompatException(CompatFailure failure, string message, TimeSpan? retryAfter = null) : Exception(message)
{
    public CompatFailure Failure { get; } = failure;

    /// <summary>When asking again may succeed (a refusal's hint), if known.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>
/// A chunk for a compatible client: (chunk, action_dim) floats within the embodiment's joint limits, how many of its steps
/// the limits changed, and what producing it cost.
/// </summary>
public sealed record CompatChunk(float[] Actions, int Chunk, int ActionDim, InferenceStats? Stats, double FleetMs, int LimitedSteps = 0);

/// <summary>
/// One compatible client bound to its robot as a virtual agent (agent id "openpi:&lt;connection&gt;" or
/// "a1-http:&lt;session&gt;", which a1ctl robots shows as the protocol). It holds the robot's lease exactly as an agent
/// does: bound once, kept alive by heartbeats while the client is, given back (<see cref="IRobotGrain.Unbind"/>) when it
/// goes; every request goes through <see cref="IRobotGrain.Act"/> (batched, budgeted, counted, stopped by e-stops)
/// after the same shape check as the robot gateway's. The client executes the chunk itself, with no agent's control loop
/// in between, so every chunk passes through the session's <see cref="ChunkLimiter"/> first: absolute joint positions of
/// the profile's embodiment, limited from the observed state to the joints' range, velocity and acceleration.
/// </summary>
public sealed partial class CompatSession : IAsyncDisposable
{
    private readonly IRobotGrain _robot;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _heartbeats;
    private readonly ChunkLimiter _limiter;
    private long _sequence;
    private long _lastUsedTicks;
    private int _disposed;

    internal CompatSession(string robotId, string agentId, CompatProfile profile, ModelSpec model, RobotLease lease, IRobotGrain robot,
        TimeSpan heartbeatInterval, TimeSpan? idleTimeout, Action<CompatSession>? onIdle, TimeProvider time, ILogger logger)
    {
        RobotId = robotId;
        AgentId = agentId;
        Profile = profile;
        Model = model;
        Epoch = lease.Epoch;
        _limiter = new ChunkLimiter(EmbodimentProfile.For(profile.Embodiment), profile.ControlHz);
        Columns = Math.Min(Math.Min(model.ActionDim, model.StateDim), _limiter.JointCount);
        _robot = robot;
        _time = time;
        _logger = logger;
        Touch();
        _heartbeats = HeartbeatAsync(heartbeatInterval, idleTimeout, onIdle);
    }

    public string RobotId { get; }

    public string AgentId { get; }

    public CompatProfile Profile { get; }

    public ModelSpec Model { get; }

    public long Epoch { get; }

    /// <summary>
    /// The most action columns this robot can be sent: joints the model drives (action dim i is joint i), whose positions
    /// its state reports (state dim i), that the embodiment has. Wider actions are not sent: nothing could limit them.
    /// </summary>
    public int Columns { get; }

    /// <summary>True once the lease is gone (lost, given back, or idle): the client must open a new session.</summary>
    public bool Ended { get; private set; }

    /// <summary>
    /// One observation through the robot grain, and its chunk's first <paramref name="columns"/> action dims within the
    /// joint limits (<see cref="Columns"/> at most; the state's first <paramref name="columns"/> values are where those
    /// joints are). <paramref name="prompt"/> is used only where the profile lets the prompt win
    /// (<see cref="InstructionSource.Prompt"/>). <paramref name="stateField"/> is how the client's protocol names the
    /// state in errors. Throws <see cref="CompatException"/> when no actions may be sent.
    /// </summary>
    public async Task<CompatChunk> ActAsync(float[] state, byte[][] images, string? prompt, int columns, string stateField, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(columns, Columns);

        if (Ended)
        {
            throw new CompatException(CompatFailure.LeaseLost, $"robot '{RobotId}': this session's lease (epoch {Epoch}) has ended: connect again");
        }

        if (ObservationShape.Check(state, images, Model) is { } problem)
        {
            throw new CompatException(CompatFailure.Invalid, $"{problem.Field}: {problem.Message}");
        }

        // Before the fleet is asked: a robot whose state is not its profile's embodiment gets nothing to execute.
        if (_limiter.CheckObserved(state.AsSpan(0, columns), stateField) is { } observed)
        {
            throw new CompatException(CompatFailure.Invalid, observed);
        }

        var instruction = Profile.InstructionSource == InstructionSource.Prompt && !string.IsNullOrWhiteSpace(prompt) ? prompt : null;
        if (instruction is not null && InputRules.Instruction(instruction, "prompt") is { } badPrompt)
        {
            throw new CompatException(CompatFailure.Invalid, badPrompt);
        }

        Touch();
        var started = _time.GetTimestamp();
        var observation = new Observation(Interlocked.Increment(ref _sequence), state, images, _time.GetUtcNow(), instruction);
        ActionChunk chunk;
        try
        {
            chunk = await _robot.Act(Epoch, observation, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CompatException(CompatFailure.Failed, $"robot '{RobotId}': the fleet could not answer ({ex.GetType().Name})");
        }

        var fleetMs = _time.GetElapsedTime(started).TotalMilliseconds;
        Touch();
        return chunk.Status switch
        {
            ChunkStatus.Ok => Limited(chunk, state.AsSpan(0, columns), started, fleetMs),
            ChunkStatus.Hold when chunk.EStopped => throw new CompatException(CompatFailure.EStopped,
                $"robot '{RobotId}' is e-stopped: no actions are sent until an operator resumes it"),
            ChunkStatus.Hold => throw new CompatException(CompatFailure.NoInstruction, Profile.InstructionSource == InstructionSource.Prompt
                ? $"robot '{RobotId}' holds: the request has no prompt and the robot has no assigned task"
                : $"robot '{RobotId}' holds: it has no assigned task (its profile runs the assigned task, not the client's prompt)"),
            ChunkStatus.LeaseLost => throw Lost(chunk.Error),
            ChunkStatus.Refused => throw new CompatException(CompatFailure.Refused,
                $"robot '{RobotId}': not now, {chunk.Error ?? "the fleet could not answer by the deadline"}; ask again after {chunk.RetryAfterMs:0} ms",
                TimeSpan.FromMilliseconds(chunk.RetryAfterMs)),
            _ => throw new CompatException(CompatFailure.Failed, chunk.Error ?? $"robot '{RobotId}': inference failed"),
        };
    }

    private CompatChunk Limited(ActionChunk chunk, ReadOnlySpan<float> observed, long observedAt, double fleetMs)
    {
        try
        {
            var (actions, limitedSteps) = _limiter.Limit(observed, chunk.Actions, chunk.Chunk, chunk.ActionDim, observedAt, _time.TimestampFrequency);
            return new CompatChunk(actions, chunk.Chunk, observed.Length, chunk.Stats, fleetMs, limitedSteps);
        }
        catch (ArgumentException ex)
        {
            // A chunk narrower than the columns asked for (another model answered): nothing unlimited goes out.
            throw new CompatException(CompatFailure.Failed, $"robot '{RobotId}': the chunk cannot be limited ({ex.Message})");
        }
    }

    private CompatException Lost(string? why)
    {
        Ended = true;
        return new CompatException(CompatFailure.LeaseLost, $"robot '{RobotId}': {why ?? "the lease was lost"}");
    }

    private void Touch() => Interlocked.Exchange(ref _lastUsedTicks, _time.GetTimestamp());

    private async Task HeartbeatAsync(TimeSpan interval, TimeSpan? idleTimeout, Action<CompatSession>? onIdle)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(interval, _time, _stop.Token);
                if (idleTimeout is { } idle && _time.GetElapsedTime(Interlocked.Read(ref _lastUsedTicks)) > idle)
                {
                    LogIdle(RobotId, AgentId, idle.TotalSeconds);
                    onIdle?.Invoke(this);
                    _ = DisposeAsync().AsTask();
                    return;
                }

                if (!await _robot.Heartbeat(Epoch))
                {
                    Ended = true;
                    LogLeaseLost(RobotId, AgentId, Epoch);
                    onIdle?.Invoke(this);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The grain did not answer a heartbeat: the next request finds out (LeaseLost or a fleet error).
            LogHeartbeatFailed(ex, RobotId, AgentId);
        }
    }

    /// <summary>Stops the heartbeats and gives the lease back (only if this session still holds it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        var wasEnded = Ended;
        Ended = true;
        await _stop.CancelAsync();
        if (!wasEnded)
        {
            try
            {
                await _robot.Unbind(Epoch, AgentId);
                LogReleased(RobotId, AgentId, Epoch);
            }
            catch (Exception ex)
            {
                // The lease lapses by itself after the TTL without heartbeats.
                LogHeartbeatFailed(ex, RobotId, AgentId);
            }
        }

        _stop.Dispose();
    }

    [LoggerMessage(EventId = 820, Level = LogLevel.Information, Message = "Compat: {AgentId} gave back the lease of robot {RobotId} (epoch {Epoch})")]
    private partial void LogReleased(string robotId, string agentId, long epoch);

    [LoggerMessage(EventId = 821, Level = LogLevel.Information, Message = "Compat: {AgentId} lost the lease of robot {RobotId} (epoch {Epoch})")]
    private partial void LogLeaseLost(string robotId, string agentId, long epoch);

    [LoggerMessage(EventId = 822, Level = LogLevel.Information, Message = "Compat: {AgentId} of robot {RobotId} idle for {IdleSeconds} s; lease given back")]
    private partial void LogIdle(string robotId, string agentId, double idleSeconds);

    [LoggerMessage(EventId = 823, Level = LogLevel.Warning, Message = "Compat: heartbeat or unbind of {AgentId} for robot {RobotId} failed")]
    private partial void LogHeartbeatFailed(Exception exception, string robotId, string agentId);
}

/// <summary>Opens <see cref="CompatSession"/>s: the robot's profile, its model, a bind under the protocol's agent id.</summary>
public sealed partial class CompatSessions(IGrainFactory grains, IOptions<A1Fleet.Grains.Robots.RobotOptions> fleet, TimeProvider time, ILogger<CompatSessions> logger)
{
    /// <summary>The robot's profile for <paramref name="protocol"/>, and its model's spec.</summary>
    public async Task<(CompatProfile Profile, ModelSpec Model)> ProfileAsync(string robotId, CompatProtocol protocol)
    {
        var profile = await grains.GetGrain<ICompatProfileGrain>(robotId).Get();
        if (profile is null || profile.Protocol != protocol)
        {
            throw new CompatException(CompatFailure.NotConfigured, profile is null
                ? $"robot '{robotId}' has no compatible-protocol profile: an operator sets one with 'a1ctl compat set {robotId} --preset ... --model ...'"
                : $"robot '{robotId}' is configured for {AgentProtocols.Name(profile.Protocol)}, not {AgentProtocols.Name(protocol)} ('a1ctl compat show {robotId}')");
        }

        var model = await grains.GetGrain<IModelGrain>(profile.ModelId).GetSpec()
            ?? throw new CompatException(CompatFailure.ModelNotServed, $"model '{profile.ModelId}' of robot '{robotId}' is not served by any GPU silo");
        if (profile.Cameras.Count != model.Cameras.Length)
        {
            throw new CompatException(CompatFailure.NotConfigured,
                $"cameras: robot '{robotId}''s profile maps {profile.Cameras.Count} camera(s); model '{model.ModelId}' has {model.Cameras.Length} ({string.Join(", ", model.Cameras.Select(c => c.Name))})");
        }

        return (profile, model);
    }

    /// <summary>Binds the robot for a compatible client; <paramref name="onEnded"/> is told when the session ends by itself.</summary>
    public async Task<CompatSession> OpenAsync(string robotId, CompatProtocol protocol, string connection, TimeSpan? idleTimeout, Action<CompatSession>? onEnded, CancellationToken cancellationToken)
    {
        var (profile, model) = await ProfileAsync(robotId, protocol);
        var agentId = AgentProtocols.AgentId(protocol, connection);
        var robot = grains.GetGrain<IRobotGrain>(robotId);
        var tags = (await robot.GetStatus()).Tags;
        var registration = new AgentRegistration(agentId, profile.Embodiment, profile.ModelId, model.StateDim, model.ActionDim,
            [.. model.Cameras.Select(c => c.Name)], profile.ControlHz, [.. tags]);
        RobotLease lease;
        try
        {
            lease = await robot.Bind(registration, null, cancellationToken);
        }
        catch (LeaseHeldException held)
        {
            throw new CompatException(CompatFailure.LeaseHeld, $"robot '{robotId}' is held by agent '{Printable.Escape(held.HolderAgentId)}' (a live lease); try again once it lets go");
        }
        catch (ArgumentException ex)
        {
            throw new CompatException(CompatFailure.ModelNotServed, $"robot '{robotId}': {ex.Message}");
        }

        LogOpened(robotId, agentId, lease.Epoch);
        var interval = fleet.Value.LeaseTtl / 3;
        return new CompatSession(robotId, agentId, profile, model, lease, robot, interval, idleTimeout, onEnded, time, logger);
    }

    [LoggerMessage(EventId = 824, Level = LogLevel.Information, Message = "Compat: {AgentId} bound robot {RobotId} at epoch {Epoch}")]
    private partial void LogOpened(string robotId, string agentId, long epoch);
}
