using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// The production <see cref="IChunkSource"/>: <see cref="IRobotGrain.Act"/> with the lease epoch of the last bind.
/// <para>Binding registers an <see cref="IRobotAgentObserver"/> so e-stops and task changes are pushed; pushed
/// commands go to the control loop's <see cref="RobotCommandInbox"/>. On a lost lease, an Orleans failure
/// (silo gone, message rejected) or a timeout, the next request first binds again, which also re-subscribes
/// the observer (a reactivated grain has forgotten it); failed binds back off exponentially on the injected
/// <see cref="TimeProvider"/>, and requests meanwhile fail fast so the loop holds. No operator action needed.</para>
/// <para>A LeaseRevoked push is ours when it carries an epoch no newer than our own bind (the grain tells the
/// previous observer, which is us when we re-bind); a newer epoch means another agent took the robot: the arm
/// holds, and the agent only tries to take it back after the longest back-off.</para>
/// </summary>
public sealed partial class RobotGrainChunkSource : IChunkSource, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly AgentRegistration _registration;
    private readonly RobotCommandInbox _commands;
    private readonly AgentMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IRobotGrain _robot;
    private readonly AgentCommandObserver _observer;
    private readonly ExponentialBackoff _rebindBackoff;
    private readonly ExponentialBackoff _errorBackoff;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _bindTimeout;
    private readonly TimeSpan _revokedWait;
    private readonly SemaphoreSlim _bindGate = new(1, 1);
    private IRobotAgentObserver? _observerReference;
    private RobotLease? _lease;
    private long _epoch;
    private long _revokedEpoch;
    private volatile bool _needsBind = true;
    private volatile bool _binding;
    private long _nextBindAt;

    public RobotGrainChunkSource(IGrainFactory grains, AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics,
        AgentOptions options, TimeProvider time, ILogger logger)
    {
        _grains = grains;
        _registration = registration;
        _commands = commands;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        RobotId = robotId;
        _robot = grains.GetGrain<IRobotGrain>(robotId);
        _observer = new AgentCommandObserver(OnPushedCommand);
        _timeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
        _bindTimeout = TimeSpan.FromSeconds(options.BindTimeoutSeconds);
        _revokedWait = TimeSpan.FromSeconds(options.RebindBackoffMaxSeconds);
        _rebindBackoff = new ExponentialBackoff(TimeSpan.FromSeconds(options.RebindBackoffMinSeconds), _revokedWait, options.EffectiveSeed);
        _errorBackoff = new ExponentialBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), options.EffectiveSeed + 1);
    }

    public string RobotId { get; }

    /// <summary>The lease of the last successful bind (null before the first).</summary>
    public RobotLease? Lease => Volatile.Read(ref _lease);

    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>Binds, retrying with back-off until it succeeds or <paramref name="cancellationToken"/> fires.</summary>
    public async Task<RobotLease> ConnectAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await BindAsync(cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                var wait = _rebindBackoff.Next();
                LogBindFailed(ex, RobotId, wait.TotalSeconds);
                _metrics.OnError($"bind failed: {ex.Message}");
                await Task.Delay(wait, _time, cancellationToken);
            }
        }
    }

    public async Task<ChunkResult> RequestAsync(Observation observation, CancellationToken cancellationToken)
    {
        if (_needsBind)
        {
            var wait = _time.GetElapsedTime(_time.GetTimestamp(), Interlocked.Read(ref _nextBindAt));
            if (wait > TimeSpan.Zero)
            {
                return ChunkResult.Failed("waiting to bind again", wait);
            }

            if (_binding)
            {
                // The loop gives up on a request after a chunk's time; its retries must not queue behind a slow bind.
                return ChunkResult.Failed("binding in progress", TimeSpan.FromMilliseconds(100));
            }

            try
            {
                await BindAsync(cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                var next = ScheduleBind(_rebindBackoff.Next());
                LogBindFailed(ex, RobotId, next.TotalSeconds);
                return ChunkResult.Failed($"bind failed: {ex.Message}", next);
            }
        }

        var epoch = Epoch;
        ActionChunk chunk;
        try
        {
            using var timeout = new CancellationTokenSource(_timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            chunk = await _robot.Act(epoch, observation, linked.Token).WaitAsync(_timeout, _time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Silo gone, message rejected, timed out: whatever it was, the grain may have moved and forgotten our observer.
            ScheduleBind(TimeSpan.Zero);
            LogActFailed(ex, RobotId);
            return ChunkResult.Failed($"{ex.GetType().Name}: {ex.Message}");
        }

        if (chunk.ObserverMissing && chunk.Status is ChunkStatus.Ok or ChunkStatus.Hold)
        {
            await ResubscribeAsync(epoch, cancellationToken);
        }

        switch (chunk.Status)
        {
            case ChunkStatus.Ok:
                _errorBackoff.Reset();
                return ChunkResult.Chunk(chunk.Actions, chunk.Chunk, chunk.ActionDim, chunk.Task, chunk.Epoch, chunk.TaskVersion, chunk.EStopGeneration);
            case ChunkStatus.Hold:
                return ChunkResult.Hold(chunk.EStopped, chunk.Task, chunk.Epoch, chunk.TaskVersion, chunk.EStopGeneration);
            case ChunkStatus.LeaseLost:
                LogLeaseLost(RobotId, epoch, chunk.Error);
                ScheduleBind(Interlocked.Read(ref _revokedEpoch) > epoch ? _revokedWait : TimeSpan.Zero);
                return ChunkResult.Failed(chunk.Error ?? "lease lost");
            default:
                return ChunkResult.Failed(chunk.Error ?? "the robot grain answered with an error", _errorBackoff.Next());
        }
    }

    /// <summary>The grain moved and forgot our observer: register it again so pushes (e-stop) reach us within a period.</summary>
    private async Task ResubscribeAsync(long epoch, CancellationToken cancellationToken)
    {
        if (_observerReference is null)
        {
            return;
        }

        try
        {
            await _robot.Subscribe(epoch, _observerReference).WaitAsync(_timeout, _time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The next chunk will ask again.
            LogActFailed(ex, RobotId);
        }
    }

    /// <summary>Best effort: counters are resent every interval, so a lost report costs nothing.</summary>
    public async Task ReportAsync(AgentCounters counters, CancellationToken cancellationToken)
    {
        if (_needsBind)
        {
            return;
        }

        try
        {
            await _robot.ReportAgentCounters(Epoch, counters).WaitAsync(_timeout, _time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogReportFailed(ex, RobotId);
        }
    }

    public void Dispose()
    {
        if (_observerReference is not null)
        {
            _grains.DeleteObjectReference<IRobotAgentObserver>(_observerReference);
            _observerReference = null;
        }

        _bindGate.Dispose();
    }

    private async Task<RobotLease> BindAsync(CancellationToken cancellationToken)
    {
        await _bindGate.WaitAsync(cancellationToken);
        try
        {
            if (!_needsBind && _lease is not null)
            {
                // Another request bound while this one waited.
                return _lease;
            }

            _observerReference ??= _grains.CreateObjectReference<IRobotAgentObserver>(_observer);
            _binding = true;
            RobotLease lease;
            try
            {
                lease = await _robot.Bind(_registration, _observerReference, cancellationToken).WaitAsync(_bindTimeout, _time, cancellationToken);
            }
            finally
            {
                _binding = false;
            }

            Interlocked.Exchange(ref _epoch, lease.Epoch);
            Volatile.Write(ref _lease, lease);
            _needsBind = false;
            _rebindBackoff.Reset();
            _metrics.OnBind();
            LogBound(RobotId, lease.Epoch, lease.Model.ModelId, lease.Model.ModelVersion, lease.EStopped);

            // The lease is the fleet's current word on e-stop; a push may have been lost while unbound.
            _commands.Post(new RobotCommand(lease.EStopped ? RobotCommandKind.EStop : RobotCommandKind.Resume, lease.Task, lease.LatencyBudgetMs, lease.Epoch, lease.EStopGeneration));
            if (Interlocked.Read(ref _revokedEpoch) > lease.Epoch)
            {
                // Someone else bound while our bind was on its way.
                OnRevoked(Interlocked.Read(ref _revokedEpoch));
            }

            return lease;
        }
        finally
        {
            _bindGate.Release();
        }
    }

    private void OnPushedCommand(RobotCommand command)
    {
        if (command.Kind != RobotCommandKind.LeaseRevoked)
        {
            // E-stops and the rest apply whatever their epoch: stopping the arm is never wrong.
            _commands.Post(command);
            return;
        }

        InterlockedMax(ref _revokedEpoch, command.Epoch);

        // During our own bind the grain revokes our previous registration; BindAsync sorts that out with the new epoch.
        if (!_binding && command.Epoch > Epoch)
        {
            OnRevoked(command.Epoch);
        }
    }

    private void OnRevoked(long epoch)
    {
        LogRevoked(RobotId, epoch, _revokedWait.TotalSeconds);
        ScheduleBind(_revokedWait);
        _commands.Post(new RobotCommand(RobotCommandKind.LeaseRevoked, null, 0, epoch));
    }

    private TimeSpan ScheduleBind(TimeSpan wait)
    {
        Interlocked.Exchange(ref _nextBindAt, _time.GetTimestamp() + (long)(wait.TotalSeconds * _time.TimestampFrequency));
        _needsBind = true;
        return wait;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    [LoggerMessage(EventId = 710, Level = LogLevel.Information, Message = "Robot {RobotId}: bound at epoch {Epoch}, model {ModelId} {ModelVersion}, e-stopped {EStopped}")]
    private partial void LogBound(string robotId, long epoch, string modelId, string modelVersion, bool eStopped);

    [LoggerMessage(EventId = 711, Level = LogLevel.Warning, Message = "Robot {RobotId}: bind failed; next attempt in {WaitSeconds:0.00} s")]
    private partial void LogBindFailed(Exception exception, string robotId, double waitSeconds);

    [LoggerMessage(EventId = 712, Level = LogLevel.Warning, Message = "Robot {RobotId}: chunk request failed; binding again")]
    private partial void LogActFailed(Exception exception, string robotId);

    [LoggerMessage(EventId = 713, Level = LogLevel.Warning, Message = "Robot {RobotId}: lease epoch {Epoch} lost ({Reason}); binding again")]
    private partial void LogLeaseLost(string robotId, long epoch, string? reason);

    [LoggerMessage(EventId = 714, Level = LogLevel.Warning, Message = "Robot {RobotId}: another agent bound at epoch {Epoch}; holding, and trying to bind again in {WaitSeconds:0.0} s")]
    private partial void LogRevoked(string robotId, long epoch, double waitSeconds);

    [LoggerMessage(EventId = 715, Level = LogLevel.Debug, Message = "Robot {RobotId}: counter report failed")]
    private partial void LogReportFailed(Exception exception, string robotId);
}
