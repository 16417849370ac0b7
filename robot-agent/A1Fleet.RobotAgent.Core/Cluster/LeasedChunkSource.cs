using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// What every way to the robot grain shares, whatever carries the calls (Orleans in process, the robot gateway over
/// gRPC): <see cref="IRobotGrain.Act"/> with the lease epoch of the last bind, and the lease kept.
/// <para>On a lost lease, a transport failure (silo gone, message rejected) or a timeout, the next request first binds
/// again, which also re-subscribes to pushed commands (a reactivated grain has forgotten them); failed binds back off
/// exponentially on the injected <see cref="TimeProvider"/>, and requests meanwhile fail fast so the loop holds. A bind
/// refused because another live agent holds the robot (<see cref="LeaseHeldException"/>) is reported as such, and
/// retried after the back-off. A request refused with a wait (<see cref="RetryLaterException"/>: the gateway's
/// per-robot request rate) keeps the lease: the loop holds once it runs out of actions and asks again after that wait.
/// No operator action needed.</para>
/// <para>A LeaseRevoked push is ours when it carries an epoch no newer than our own bind (the grain tells the
/// previous observer, which is us when we re-bind); a newer epoch means another agent took the robot: the arm
/// holds, and the agent only tries to take it back after the longest back-off.</para>
/// </summary>
public abstract partial class LeasedChunkSource : IChunkSource, IDisposable
{
    private readonly ILogger _logger;
    private readonly RobotCommandInbox _commands;
    private readonly AgentMetrics _metrics;
    private readonly ExponentialBackoff _rebindBackoff;
    private readonly ExponentialBackoff _errorBackoff;
    private readonly TimeSpan _bindTimeout;
    private readonly TimeSpan _revokedWait;
    private readonly SemaphoreSlim _bindGate = new(1, 1);
    private RobotLease? _lease;
    private long _epoch;
    private long _revokedEpoch;
    private volatile bool _needsBind = true;
    private volatile bool _binding;
    private long _nextBindAt;

    protected LeasedChunkSource(AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics,
        AgentOptions options, TimeProvider time, ILogger logger)
    {
        Registration = registration;
        RobotId = robotId;
        _commands = commands;
        _metrics = metrics;
        Time = time;
        _logger = logger;
        Timeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
        _bindTimeout = TimeSpan.FromSeconds(options.BindTimeoutSeconds);
        _revokedWait = TimeSpan.FromSeconds(options.RebindBackoffMaxSeconds);
        _rebindBackoff = new ExponentialBackoff(TimeSpan.FromSeconds(options.RebindBackoffMinSeconds), _revokedWait, options.EffectiveSeed);
        _errorBackoff = new ExponentialBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), options.EffectiveSeed + 1);
    }

    public string RobotId { get; }

    /// <summary>The lease of the last successful bind (null before the first).</summary>
    public RobotLease? Lease => Volatile.Read(ref _lease);

    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>True while the lease is known lost (or was never taken) and the next request binds again.</summary>
    public bool NeedsBind => _needsBind;

    protected AgentRegistration Registration { get; }

    protected TimeProvider Time { get; }

    /// <summary>Longest wait for one call other than a bind.</summary>
    protected TimeSpan Timeout { get; }

    /// <summary>Takes the lease; the transport registers for pushed commands as part of it (or in <see cref="OnBound"/>).</summary>
    protected abstract Task<RobotLease> BindCoreAsync(CancellationToken cancellationToken);

    protected abstract Task<ActionChunk> ActCoreAsync(long epoch, Observation observation, CancellationToken cancellationToken);

    /// <summary>The grain has no one to push to for <paramref name="epoch"/> (<see cref="ActionChunk.ObserverMissing"/>): register again.</summary>
    protected abstract Task ResubscribeCoreAsync(long epoch, CancellationToken cancellationToken);

    protected abstract Task<bool> HeartbeatCoreAsync(long epoch, CancellationToken cancellationToken);

    protected abstract Task ReportCoreAsync(long epoch, AgentCounters counters, CancellationToken cancellationToken);

    /// <summary>Called once per successful bind, before the lease is handed out.</summary>
    protected virtual void OnBound(RobotLease lease)
    {
    }

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
                var wait = AtLeastAsked(_rebindBackoff.Next(), ex);
                _metrics.OnError(OnBindFailed(ex, wait));
                await Task.Delay(wait, Time, cancellationToken);
            }
        }
    }

    public async Task<ChunkResult> RequestAsync(Observation observation, CancellationToken cancellationToken)
    {
        if (_needsBind)
        {
            var wait = Time.GetElapsedTime(Time.GetTimestamp(), Interlocked.Read(ref _nextBindAt));
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
                var next = ScheduleBind(AtLeastAsked(_rebindBackoff.Next(), ex));
                return ChunkResult.Failed(OnBindFailed(ex, next), next);
            }
        }

        var epoch = Epoch;
        if (observation.CapturedTimestamp != 0)
        {
            // Its age as it leaves: the fleet's deadline is anchored on it, so a slow bind before it is not free.
            observation = observation with { AgeMs = Time.GetElapsedTime(observation.CapturedTimestamp).TotalMilliseconds };
        }

        ActionChunk chunk;
        try
        {
            using var timeout = new CancellationTokenSource(Timeout, Time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            chunk = await ActCoreAsync(epoch, observation, linked.Token).WaitAsync(Timeout, Time, cancellationToken);
        }
        catch (RetryLaterException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Refused for now (the robot's request rate), lease intact: no bind, just ask again when told.
            LogRetryLater(RobotId, ex.RetryAfter.TotalMilliseconds, ex.Message);
            return ChunkResult.Failed(ex.Message, ex.RetryAfter);
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
                if (chunk.EStopped)
                {
                    // Heard here first when the push missed us (a stream being reopened): as an e-stop it wakes the loop
                    // at once, instead of waiting for the loop's next tick to pick up this answer.
                    _commands.Post(new RobotCommand(RobotCommandKind.EStop, chunk.Task, Lease?.LatencyBudgetMs ?? 0, chunk.Epoch, chunk.EStopGeneration), CommandRoute.Reply);
                }

                return ChunkResult.Hold(chunk.EStopped, chunk.Task, chunk.Epoch, chunk.TaskVersion, chunk.EStopGeneration);
            case ChunkStatus.Refused:
                // Not now, lease intact: no bind and no error back-off, just the fleet's hint.
                _errorBackoff.Reset();
                return ChunkResult.Refused(chunk.Error ?? "refused", TimeSpan.FromMilliseconds(chunk.RetryAfterMs));
            case ChunkStatus.LeaseLost:
                LogLeaseLost(RobotId, epoch, chunk.Error);
                ScheduleBind(Interlocked.Read(ref _revokedEpoch) > epoch ? _revokedWait : TimeSpan.Zero);
                return ChunkResult.Failed(chunk.Error ?? "lease lost");
            default:
                return ChunkResult.Failed(chunk.Error ?? "the robot grain answered with an error", _errorBackoff.Next());
        }
    }

    /// <summary>
    /// Keeps the lease alive between requests (every Act counts as one too). A lease the fleet no longer gives us is
    /// treated as lost: the next request binds again (and is refused while another agent holds the robot).
    /// </summary>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        if (_needsBind)
        {
            return;
        }

        var epoch = Epoch;
        try
        {
            if (!await HeartbeatCoreAsync(epoch, cancellationToken).WaitAsync(Timeout, Time, cancellationToken) && epoch == Epoch)
            {
                LogLeaseLost(RobotId, epoch, "the heartbeat was refused");
                ScheduleBind(Interlocked.Read(ref _revokedEpoch) > epoch ? _revokedWait : TimeSpan.Zero);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // A missed heartbeat costs nothing until the lease's TTL; requests notice a dead fleet on their own.
            LogHeartbeatFailed(ex, RobotId);
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
            await ReportCoreAsync(Epoch, counters, cancellationToken).WaitAsync(Timeout, Time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogReportFailed(ex, RobotId);
        }
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _bindGate.Dispose();
        }
    }

    /// <summary>Commands the fleet pushed, from whatever thread the transport delivers them on.</summary>
    protected void OnPushedCommand(RobotCommand command)
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

    /// <summary>The lease is gone (the transport learned it first): the next request binds again at once.</summary>
    protected void OnLeaseLost(long epoch, string reason)
    {
        if (epoch == Epoch && !_needsBind)
        {
            LogLeaseLost(RobotId, epoch, reason);
            ScheduleBind(Interlocked.Read(ref _revokedEpoch) > epoch ? _revokedWait : TimeSpan.Zero);
        }
    }

    private async Task ResubscribeAsync(long epoch, CancellationToken cancellationToken)
    {
        try
        {
            await ResubscribeCoreAsync(epoch, cancellationToken).WaitAsync(Timeout, Time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The next chunk will ask again.
            LogActFailed(ex, RobotId);
        }
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

            _binding = true;
            RobotLease lease;
            try
            {
                lease = await BindCoreAsync(cancellationToken).WaitAsync(_bindTimeout, Time, cancellationToken);
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
            OnBound(lease);

            // The lease is the fleet's current word on e-stop; a push may have been lost while unbound.
            _commands.Post(new RobotCommand(lease.EStopped ? RobotCommandKind.EStop : RobotCommandKind.Resume, lease.Task, lease.LatencyBudgetMs, lease.Epoch,
                lease.EStopGeneration), CommandRoute.Bind);
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

    /// <summary>Logs a failed bind and returns what the agent reports: a refusal by a live holder reads as one.</summary>
    private string OnBindFailed(Exception ex, TimeSpan wait)
    {
        if (ex is LeaseHeldException held)
        {
            LogBindRefused(RobotId, held.HolderAgentId, wait.TotalSeconds);
            return $"bind refused: {held.Message}";
        }

        LogBindFailed(ex, RobotId, wait.TotalSeconds);
        return $"bind failed: {ex.Message}";
    }

    /// <summary>A back-off no shorter than the wait the fleet asked for, when it asked for one.</summary>
    private static TimeSpan AtLeastAsked(TimeSpan backoff, Exception ex) =>
        ex is RetryLaterException { RetryAfter: var asked } && asked > backoff ? asked : backoff;

    private void OnRevoked(long epoch)
    {
        LogRevoked(RobotId, epoch, _revokedWait.TotalSeconds);
        ScheduleBind(_revokedWait);
        _commands.Post(new RobotCommand(RobotCommandKind.LeaseRevoked, null, 0, epoch));
    }

    private TimeSpan ScheduleBind(TimeSpan wait)
    {
        Interlocked.Exchange(ref _nextBindAt, Time.GetTimestamp() + (long)(wait.TotalSeconds * Time.TimestampFrequency));
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

    [LoggerMessage(EventId = 716, Level = LogLevel.Warning,
        Message = "Robot {RobotId}: bind refused, agent {HolderAgentId} holds the robot and is alive; holding, next attempt in {WaitSeconds:0.00} s (stop that agent or have an operator release the lease)")]
    private partial void LogBindRefused(string robotId, string holderAgentId, double waitSeconds);

    [LoggerMessage(EventId = 719, Level = LogLevel.Warning, Message = "Robot {RobotId}: the fleet refused the chunk request for now; holding if out of actions, asking again in {RetryAfterMs:0} ms ({Reason})")]
    private partial void LogRetryLater(string robotId, double retryAfterMs, string reason);

    [LoggerMessage(EventId = 717, Level = LogLevel.Debug, Message = "Robot {RobotId}: heartbeat failed")]
    private partial void LogHeartbeatFailed(Exception exception, string robotId);
}
