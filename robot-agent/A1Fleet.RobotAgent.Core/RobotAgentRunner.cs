using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent;

/// <summary>
/// One robot agent, wired: simulated arm, cameras at the model's sizes, model adapter, chunk source to the
/// robot grain (<see cref="IChunkSourceFactory"/>: the robot gateway for the agent process, Orleans in process),
/// control loop, heartbeats and the periodic counter report. Usable as a hosted service (the agent process)
/// or directly with <see cref="RunAsync"/> (the fleet demo runs many in one process on one IGrainFactory).
/// Binding comes first because the lease says which model, and so which cameras and sizes, the arm serves.
/// </summary>
public sealed partial class RobotAgentRunner : IHostedService, IAsyncDisposable
{
    private static readonly string[] SimulatedCameras = ["front", "wrist"];

    private readonly IChunkSourceFactory _sources;
    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RobotAgentRunner> _logger;
    private readonly EmbodimentProfile _profile;
    private readonly RobotCommandInbox _commands = new();
    private readonly EpisodeRecorder? _recorder;
    private CancellationTokenSource? _stopping;
    private Task? _run;
    private volatile LeasedChunkSource? _source;
    private volatile ControlLoop? _loop;
    private volatile bool _stopped;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly SimulatedArm _arm;

    /// <summary>An agent on an Orleans <see cref="IGrainFactory"/> (a silo or client in this process).</summary>
    public RobotAgentRunner(IGrainFactory grainFactory, IOptions<AgentOptions> options, TimeProvider timeProvider, ILogger<RobotAgentRunner> logger,
        AgentInstruments? instruments = null, EpisodeRecorder? recorder = null, IHostApplicationLifetime? lifetime = null)
        : this(new GrainChunkSourceFactory(grainFactory, timeProvider), options, timeProvider, logger, instruments, recorder, lifetime)
    {
    }

    public RobotAgentRunner(IChunkSourceFactory sources, IOptions<AgentOptions> options, TimeProvider timeProvider, ILogger<RobotAgentRunner> logger,
        AgentInstruments? instruments = null, EpisodeRecorder? recorder = null, IHostApplicationLifetime? lifetime = null)
    {
        _lifetime = lifetime;
        _options = options.Value;
        var validation = new AgentOptionsValidator().Validate(null, _options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(AgentOptions.SectionName, typeof(AgentOptions), validation.Failures);
        }

        _sources = sources;
        _time = timeProvider;
        _logger = logger;
        _profile = EmbodimentProfile.For(_options.Embodiment);
        Metrics = new AgentMetrics(_options.Embodiment, instruments);
        _arm = new SimulatedArm(_profile, _options.EffectiveSeed, Metrics.OnDriverLimitViolation);
        Driver = _arm;
        _recorder = recorder is { Enabled: true } ? recorder : null;
        LocalStop = new LocalStopSwitch(Metrics);
    }

    /// <summary>The arm's local stop: engaged by SIGUSR1 or POST /local/estop, released only by POST /local/resume. Works before the first bind too.</summary>
    public LocalStopSwitch LocalStop { get; }

    /// <summary>Ready: bound to the robot and the control loop ticked within the last second.</summary>
    public bool IsReady
    {
        get
        {
            var loop = _loop;
            return !_stopped && loop is not null && Lease is not null && loop.LastTickAt is { } last && _time.GetUtcNow() - last < ReadyTickAge;
        }
    }

    private static readonly TimeSpan ReadyTickAge = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait for the controlled stop at shutdown: any arm stops from full speed in well under a second.</summary>
    private static readonly TimeSpan ShutdownStopTimeout = TimeSpan.FromSeconds(2);

    public string RobotId => _options.RobotId;

    public IArmDriver Driver { get; }

    public AgentMetrics Metrics { get; }

    /// <summary>The lease of the last bind; null until the first bind succeeds.</summary>
    public RobotLease? Lease => _source?.Lease;

    /// <summary>The live view of this agent.</summary>
    public AgentSnapshot Snapshot()
    {
        var loop = _loop;
        var lease = Lease;
        var phase = _stopped ? AgentPhase.Stopped : loop?.Phase ?? AgentPhase.Connecting;
        var m = Metrics;
        return new AgentSnapshot(RobotId, _options.Embodiment, _profile.ControlHz, phase, _source?.Epoch ?? 0,
            (loop?.Task ?? lease?.Task)?.Instruction, loop?.EStopped ?? lease?.EStopped ?? false,
            m.ControlTicks, m.HoldTicks, m.ClampedActions, m.IdleGaps, m.IdleGapTicks, m.LongestIdleGapTicks, m.ChunksExecuted, m.StaleChunks,
            m.Splices, m.MaxSpliceJump, m.MeanSpliceJump, m.Requests, m.RequestFailures, m.MeanRequestLatencyMs, m.LastRequestLatencyMs,
            m.Binds, m.TickOverruns, m.LastError, LocalStop.Engaged, m.LocalStops, loop?.LatchedEStopGeneration ?? lease?.EStopGeneration ?? 0,
            m.SlowedTicks, m.RampedTicks, m.RejectedChunks, m.SupersededChunks, m.MaxCommandStep, _arm.LimitViolations, loop?.EStopLatchedAt, m.Refusals,
            m.Episodes, m.Successes, loop?.EStopLatchedAt is null ? null : loop.EStopRoute.ToString().ToLowerInvariant());
    }

    /// <summary>Binds (retrying until the cluster answers), then runs the arm until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var registration = new AgentRegistration(_options.EffectiveAgentId, _options.Embodiment, _options.ModelId, Driver.JointCount, Driver.JointCount,
            SimulatedCameras, _profile.ControlHz, _options.Tags);
        using var source = _sources.Create(registration, RobotId, _commands, Metrics, _options, _logger);
        _source = source;
        try
        {
            var lease = await source.ConnectAsync(cancellationToken);
            var model = lease.Model;
            var seed = _options.EffectiveSeed;
            var tabletop = _options.SimulatedTask == SimulatedTask.Tabletop;
            var camera = new SimulatedCamera(_profile, model.Cameras, seed, withBlocks: !tabletop);
            var world = tabletop ? new TabletopEpisodes(_arm, camera, seed, _options.EpisodeSeconds, OnEpisodeEnded) : null;
            var adapter = new ModelAdapter(Driver.JointCount, model);
            var recording = _recorder is null ? null
                : new ArmRecording(_recorder, RobotId, _options.Embodiment, _profile.ControlHz, model, [.. _profile.Joints.Select(j => j.Name)]);
            var loop = new ControlLoop(Driver, camera, adapter, model, source, _commands, _options.ToControlLoopOptions(), Metrics, _time, _logger, recording,
                LocalStop, world);
            _loop = loop;
            LogRunning(RobotId, _options.Embodiment, model.ModelId, model.StateDim, model.ActionDim, Driver.JointCount);

            using var stopReports = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var reports = ReportPeriodicallyAsync(source, stopReports.Token);
            var heartbeats = HeartbeatPeriodicallyAsync(source, stopReports.Token);
            try
            {
                await loop.RunAsync(cancellationToken);
            }
            finally
            {
                await stopReports.CancelAsync();
                await reports;
                await heartbeats;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping is the normal way out.
        }
        finally
        {
            _stopped = true;
        }
    }

    private void OnEpisodeEnded(TabletopEpisodeOutcome outcome)
    {
        Metrics.OnEpisode(outcome.Succeeded);
        LogEpisodeEnded(RobotId, outcome.Episode, outcome.Instruction, outcome.Seed, outcome.Succeeded ? "succeeded" : "failed", outcome.Steps);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = new CancellationTokenSource();
        _run = RunLoggingFailuresAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping is null || _run is null)
        {
            return;
        }

        if (_loop is { } loop && !_run.IsCompleted)
        {
            // Hold first: a controlled stop takes a few ticks; the bound only matters if the loop is not ticking.
            try
            {
                await loop.StopForShutdownAsync().WaitAsync(ShutdownStopTimeout, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                LogShutdownStopTimedOut(RobotId, ShutdownStopTimeout.TotalSeconds);
            }
        }

        await _stopping.CancelAsync();
        await _run.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        // The host's container disposes this object twice (as itself and as the hosted service it also is).
        if (Interlocked.Exchange(ref _stopping, null) is not { } stopping)
        {
            return;
        }

        await stopping.CancelAsync();
        if (_run is not null)
        {
            try
            {
                await _run;
            }
            catch (Exception)
            {
                // Already logged where the run failed; disposing must go on so the recorder after us is disposed too.
            }
        }

        stopping.Dispose();
    }

    private async Task RunLoggingFailuresAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_lifetime is not null)
            {
                // Hosted services start together (so the local stop listens while the cluster is down); the grain
                // factory is usable once the host, and with it the cluster client, has started.
                var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using var onStarted = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
                await started.Task.WaitAsync(cancellationToken);
            }

            await RunAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            LogFailed(ex, RobotId);
            throw;
        }
    }

    /// <summary>Keeps the lease alive while the loop holds and sends no requests (no task, e-stopped).</summary>
    private async Task HeartbeatPeriodicallyAsync(LeasedChunkSource source, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(_options.HeartbeatIntervalSeconds);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(interval, _time, cancellationToken);
                await source.HeartbeatAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReportPeriodicallyAsync(LeasedChunkSource source, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(_options.ReportIntervalSeconds);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(interval, _time, cancellationToken);
                await source.ReportAsync(Metrics.ToCounters(), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Information,
        Message = "Robot {RobotId}: running a {Embodiment} on model {ModelId} (state {StateDim}, actions {ActionDim}, arm joints {Joints})")]
    private partial void LogRunning(string robotId, Embodiment embodiment, string modelId, int stateDim, int actionDim, int joints);

    [LoggerMessage(EventId = 722, Level = LogLevel.Warning, Message = "Robot {RobotId}: the arm did not come to rest within {Seconds} s of shutdown; stopping anyway")]
    private partial void LogShutdownStopTimedOut(string robotId, double seconds);

    [LoggerMessage(EventId = 750, Level = LogLevel.Debug, Message = "Robot {RobotId}: episode {Episode} ('{Instruction}', seed {Seed}) {Outcome} after {Steps} periods")]
    private partial void LogEpisodeEnded(string robotId, long episode, string instruction, int seed, string outcome, int steps);

    [LoggerMessage(EventId = 721, Level = LogLevel.Error, Message = "Robot {RobotId}: the agent stopped on an error")]
    private partial void LogFailed(Exception exception, string robotId);
}
