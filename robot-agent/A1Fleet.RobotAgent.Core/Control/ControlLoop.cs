using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// Executes action chunks at the arm's control rate and keeps the next chunk coming (asynchronous execution).
/// <para>Each tick (1/ControlHz, on the injected <see cref="TimeProvider"/>): apply pushed commands and the local
/// stop; splice a chunk that has arrived; then either hold
/// (e-stopped, locally stopped, or no action left: an idle gap when the arm was moving) or command the next action,
/// clamped to the joint range and passed through the <see cref="MotionLimiter"/>, so every command the driver gets
/// is within each joint's velocity and acceleration limits. A hold is a controlled stop: the joints decelerate at
/// their acceleration limits (a tick or two from normal speeds), then the driver holds (IEC 60204-1 category 2).</para>
/// <para>An e-stop (or a local stop) does not wait for the next tick: it wakes the loop, whose tick then runs at once
/// and starts the controlled stop with a step limited over the time since the previous tick (at least
/// <see cref="ShortestInterval"/>); the ticks after it are one period apart from there. A joint braking onto the end
/// of its range this period cannot be stopped within less than it; then the next tick starts the stop, as before.</para>
/// <para>Safety state (see docs/fleet.md, "Agent safety"): an e-stop is latched with its generation and clears only
/// on a resume of at least that generation, or a chunk issued after it; failures and timeouts never clear it. A
/// chunk issued under an older lease epoch, task version or e-stop generation than the loop has heard of is dropped
/// and counted. A local stop (<see cref="LocalStopSwitch"/>) is a second latch that only a local resume clears.
/// When no more than <see cref="ControlLoopOptions.RequestAheadShare"/> of a chunk is left, it captures an
/// observation and starts the next request without waiting for it.</para>
/// <para>Splice: action k of a chunk belongs to the k-th tick after its observation, so the actions whose
/// ticks passed while the request was in flight are skipped, and the next <see cref="ControlLoopOptions.BlendSteps"/>
/// are blended with what was left of the old chunk. A chunk with no action left for the future (older than one
/// chunk) is stale and dropped. Failures keep the old chunk running, then hold, and ask again.</para>
/// <para>With one request in flight, a chunk of H steps hides at most about H/2 periods of latency: an answer
/// loses the steps that passed while it was computed, and what is left must last until the next answer lands.
/// RequestAheadShare only needs to cover the latency within that bound (tests: H = 10 at 20 Hz runs without
/// idle gaps up to 220 ms, with gaps from 260 ms).</para>
/// Everything after construction runs on the tick; buffers are made once, so a tick allocates nothing
/// (a request allocates its observation, which the wire contract makes immutable). With an
/// <see cref="ArmRecording"/>, each tick of an episode also records the observation it started from and the
/// command it executed (that allocates the frame, which the recorder keeps).
/// </summary>
public sealed partial class ControlLoop
{
    private readonly IArmDriver _driver;
    private readonly SimulatedCamera _camera;
    private readonly ModelAdapter _adapter;
    private readonly IChunkSource _source;
    private readonly RobotCommandInbox _commands;
    private readonly ControlLoopOptions _options;
    private readonly AgentMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ActionPlan _plan;
    private readonly float[] _state;
    private readonly float[] _command;
    private readonly float[] _lastCommand;
    private readonly int _chunkSteps;
    private readonly int _requestAheadSteps;
    private readonly ArmRecording? _recording;
    private readonly float[] _recordJoints;
    private readonly float[] _target;
    private readonly float[] _lastTarget;
    private readonly float[] _lastTargetStep;
    private readonly MotionLimiter _limiter;
    private readonly LocalStopSwitch? _localStop;
    private readonly ITaskWorld? _world;
    private readonly float _rejectStepFactor;
    private CancellationToken _stopping;
    private Task<CompletedRequest>? _inflight;
    private long _inflightBaseTick;
    private long _inflightGeneration;
    private long _generation;
    private long _tick;
    private long _sequence;
    private long _nextRequestAt;
    private long _gapTicks;
    private bool _moving;
    private bool _measureJump;
    private int _running;
    private bool _spliced;
    private bool _localStopped;
    private long _lastTickAtTicks;
    private long _knownEpoch;
    private long _knownTaskVersion;
    private long _knownGeneration;
    private long _latchedGeneration;
    private long _eStopLatchedAtTicks;
    private volatile bool _eStopped;
    private volatile CommandRoute _eStopRoute;
    private volatile bool _shuttingDown;
    private readonly TaskCompletionSource _restingForShutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile RobotTask? _task;
    private volatile AgentPhase _phase = AgentPhase.Waiting;
    private AgentPhase _idlePhase = AgentPhase.Waiting;

    public ControlLoop(IArmDriver driver, SimulatedCamera camera, ModelAdapter adapter, ModelSpec model, IChunkSource source, RobotCommandInbox commands,
        ControlLoopOptions options, AgentMetrics metrics, TimeProvider time, ILogger logger, ArmRecording? recording = null, LocalStopSwitch? localStop = null,
        ITaskWorld? world = null)
    {
        if (adapter.JointCount != driver.JointCount)
        {
            throw new ArgumentException($"the adapter maps {adapter.JointCount} joints but the {driver.Embodiment} arm has {driver.JointCount}");
        }

        if (model.Chunk <= 0)
        {
            throw new ArgumentException($"model '{model.ModelId}' declares chunk length {model.Chunk}; it must be positive");
        }

        _driver = driver;
        _camera = camera;
        _adapter = adapter;
        _source = source;
        _commands = commands;
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _chunkSteps = model.Chunk;
        _requestAheadSteps = Math.Clamp((int)Math.Round(options.RequestAheadShare * model.Chunk), 1, model.Chunk);
        _plan = new ActionPlan(driver.JointCount, model.Chunk);
        _state = new float[driver.JointCount];
        _command = new float[driver.JointCount];
        _lastCommand = new float[driver.JointCount];
        _recording = recording;
        _recordJoints = new float[driver.JointCount];
        _target = new float[driver.JointCount];
        _lastTarget = new float[driver.JointCount];
        _lastTargetStep = new float[driver.JointCount];
        _localStop = localStop;
        _world = world;
        _rejectStepFactor = (float)(options.RejectSpeedFactor / driver.ControlHz);
        Period = TimeSpan.FromTicks((long)Math.Round(TimeSpan.TicksPerSecond / driver.ControlHz));
        driver.ReadState(_lastCommand);
        _limiter = new MotionLimiter(driver.JointLimits, driver.ControlHz);
        _limiter.Reset(_lastCommand);
        _limiter.Position.CopyTo(_lastCommand);
        _limiter.Position.CopyTo(_lastTarget);
    }

    /// <summary>One control period (1/ControlHz).</summary>
    public TimeSpan Period { get; }

    /// <summary>Ticks run so far.</summary>
    public long Ticks => Interlocked.Read(ref _tick);

    /// <summary>Remaining actions at or below which the next chunk is requested.</summary>
    public int RequestAheadSteps => _requestAheadSteps;

    /// <summary>The fleet's e-stop is latched (see <see cref="LocalStopped"/> for the local one).</summary>
    public bool EStopped => _eStopped;

    /// <summary>A local stop holds the arm (signal or loopback HTTP); only a local resume clears it.</summary>
    public bool LocalStopped => Volatile.Read(ref _localStopped);

    /// <summary>The e-stop generation the latch holds (0 before any e-stop).</summary>
    public long LatchedEStopGeneration => Interlocked.Read(ref _latchedGeneration);

    /// <summary>
    /// When the current latch was set (wall clock; null before the first e-stop): the tick that took the e-stop, the
    /// controlled stop begins on it. Kept after a resume until the next latch, so a caller can pair it with the generation.
    /// </summary>
    public DateTimeOffset? EStopLatchedAt => Interlocked.Read(ref _eStopLatchedAtTicks) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>How the e-stop that set the current latch reached the agent (with <see cref="EStopLatchedAt"/>; meaningless before the first).</summary>
    public CommandRoute EStopRoute => _eStopRoute;

    public RobotTask? Task => _task;

    public AgentPhase Phase => _phase;

    /// <summary>When the last tick ran (null before the first): readiness means the loop is ticking.</summary>
    public DateTimeOffset? LastTickAt => Interlocked.Read(ref _lastTickAtTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>
    /// Brings the arm to rest with a controlled stop before the process goes (SIGTERM, Ctrl-C): the returned task
    /// completes on the tick the arm is at rest, after which cancelling the loop leaves it holding where it stopped.
    /// </summary>
    public Task StopForShutdownAsync()
    {
        _shuttingDown = true;
        return _restingForShutdown.Task;
    }

    /// <summary>
    /// Ticks until <paramref name="cancellationToken"/> fires; the first tick runs at once, then one per <see cref="Period"/>.
    /// An e-stop (posted to the inbox) or a local stop between two ticks wakes the loop: it runs its tick then, which
    /// latches and commands the controlled stop's first step over the time since the previous tick, and the ticks
    /// after it follow one period apart from there. See <see cref="ShortestInterval"/> for one heard right after a tick.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("this control loop is already running");
        }

        _stopping = cancellationToken;
        using var waiter = new TickWaiter(_time, cancellationToken);
        _commands.WakeOnEStop(waiter.Wake);
        _localStop?.WakeOnEngage(waiter.Wake);
        var start = _time.GetTimestamp();
        long scheduled = 0;
        var interval = Period;

        // Cycles in which a timer fire may be one left over from a wait a wake cut short (the timer is disarmed then,
        // but a fire already on its way still lands): in them the clock, not the fire, says whether the tick is due.
        var suspectCycles = 0;
        LogStarted(_driver.Embodiment, _driver.ControlHz, _chunkSteps, _requestAheadSteps, _options.BlendSteps);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var tickedAt = _time.GetTimestamp();
                Tick(interval);
                interval = Period;
                scheduled++;
                suspectCycles = Math.Max(0, suspectCycles - 1);

                // Ticks are due at start + k * period, so waiting never accumulates drift.
                var woken = false;
                while (true)
                {
                    var wait = (scheduled * Period) - _time.GetElapsedTime(start);
                    if (wait <= TimeSpan.Zero)
                    {
                        if (-wait > Period)
                        {
                            // More than a period behind (a stalled machine): drop the missed ticks rather than burst them. The
                            // plan is not advanced over them either: the arm goes on from where it is, late, instead of jumping ahead.
                            var missed = (long)(-wait / Period);
                            scheduled += missed;
                            _metrics.OnOverrun(missed);
                        }

                        break;
                    }

                    if (woken && (_eStopped || _localStopped || _shuttingDown))
                    {
                        // A stop is already under way (a repeated e-stop, one heard by two routes): the next tick takes it.
                        woken = false;
                    }

                    if (woken)
                    {
                        var since = _time.GetElapsedTime(tickedAt);
                        if (since >= ShortestInterval)
                        {
                            if (_limiter.CanStopWithin(since.TotalSeconds))
                            {
                                // The stop's tick runs now; the periods count from it.
                                interval = since;
                                start = _time.GetTimestamp();
                                scheduled = 0;
                                break;
                            }

                            // A joint is braking onto the end of its range within this period already: the stop starts
                            // on the next tick, as planned (see MotionLimiter.CanStopWithin).
                            woken = false;
                            continue;
                        }

                        wait = TimeSpan.FromTicks(Math.Min(wait.Ticks, (ShortestInterval - since).Ticks));
                    }

                    var how = await waiter.WaitAsync(wait).ConfigureAwait(false);
                    if (how == TickWake.Cancelled)
                    {
                        return;
                    }

                    if (how == TickWake.Woken)
                    {
                        woken = true;
                        suspectCycles = 2;
                    }
                    else if (suspectCycles == 0)
                    {
                        // The timer: the tick is due (a fire within the timer's resolution before it counts, as always).
                        break;
                    }

                    // Woken, or a fire that may be left over from a wait a wake ended: the clock above decides.
                }
            }
        }
        finally
        {
            _commands.WakeOnEStop(null);
            _localStop?.WakeOnEngage(null);
            _driver.Hold();
            _recording?.Close();
            _phase = AgentPhase.Stopped;
            LogStopped(_tick);
        }
    }

    /// <summary>
    /// The shortest time after a tick that a wake runs the next one (a tenth of a period; one woken sooner waits for it).
    /// Positions are floats: over a much shorter interval their rounding alone would read as velocity and acceleration
    /// steps a driver could not tell from a limit broken.
    /// </summary>
    public TimeSpan ShortestInterval => Period / 10;

    /// <summary>One control period's work; internal so tests can count what a tick allocates.</summary>
    internal void Tick() => Tick(Period);

    /// <summary>
    /// One tick, <paramref name="interval"/> after the previous one: a period, or less when an e-stop or a local stop
    /// woke the loop between ticks (then it holds: the controlled stop's first step is limited over that interval).
    /// </summary>
    private void Tick(TimeSpan interval)
    {
        var tick = _tick;
        TakeCommands();
        ApplyLocalStop();
        TakeArrivedChunk(tick);

        // The recorded observation is the arm before this tick's command, as a request would capture it.
        var recording = _recording is { IsOpen: true } && _task is not null;
        if (recording)
        {
            _driver.ReadState(_recordJoints);
        }

        if (_shuttingDown)
        {
            HoldArm(interval);
            if (_limiter.AtRest)
            {
                _restingForShutdown.TrySetResult();
            }
        }
        else if (_eStopped || _localStopped || interval < Period)
        {
            // A shortened tick only ever comes from a stop: even if what woke the loop was not one, it does not move the arm.
            HoldArm(interval);
            _phase = _localStopped ? AgentPhase.LocalStop : _eStopped ? AgentPhase.EStopped : _idlePhase;
        }
        else if (_plan.Remaining > 0)
        {
            ExecuteNextAction();
        }
        else
        {
            HoldArm(Period);
            _phase = _idlePhase;
            if (_moving)
            {
                // The arm was executing a chunk and the next has not arrived: an idle gap.
                if (_gapTicks++ == 0)
                {
                    _metrics.OnIdleGapStarted();
                }

                _metrics.OnIdleGapTick(_gapTicks);
                _phase = AgentPhase.Starved;
            }
        }

        if (recording)
        {
            RecordFrame();
        }

        // The simulated task's world follows the arm; a new episode resets the arm, and this tick asks for its first chunk.
        if (_world is not null && _world.AfterPeriod(_task?.Instruction, running: !_eStopped && !_localStopped && !_shuttingDown))
        {
            TakeUpFromArm();
        }

        StartRequestIfDue(tick);
        _metrics.OnTick();
        Interlocked.Exchange(ref _lastTickAtTicks, _time.GetUtcNow().UtcTicks);
        Interlocked.Increment(ref _tick);
    }

    private void ExecuteNextAction()
    {
        _plan.Next().CopyTo(_target);
        var clamped = _driver.JointLimits.Clamp(_target);
        if (clamped > 0)
        {
            _metrics.OnClamped(clamped);
        }

        if (_measureJump)
        {
            // The plan's own discontinuity at the splice (what blending is for); the limiter below bounds what the arm gets.
            _measureJump = false;
            _metrics.OnSplice(MaxAbsDifference(_target, _lastTarget));
        }

        // Whose fault a limited tick is: the plan's own motion beyond the limits (slowed), or the arm not yet where a
        // plan within the limits is (ramped: a chunk that started far away, or the first step of any splice).
        var beyondLimits = !_spliced && PlanStepBeyondLimits();
        _spliced = false;
        _target.CopyTo(_lastTarget.AsSpan());

        if (_limiter.Step(_target, _command))
        {
            if (beyondLimits)
            {
                _metrics.OnSlowedTick();
            }
            else
            {
                _metrics.OnRampedTick();
            }
        }

        CommandArm();
        _gapTicks = 0;
        _phase = AgentPhase.Executing;
    }

    private void CommandArm()
    {
        _metrics.OnCommandStep(MaxAbsDifference(_command, _lastCommand));
        _driver.Command(_command);
        _command.CopyTo(_lastCommand.AsSpan());
    }

    private void RecordFrame()
    {
        var state = _adapter.CreateState(_recordJoints);
        var action = new float[_adapter.ActionDim];

        // _lastCommand is what the arm was told this tick: the executed (clamped, blended) target, or where it holds.
        _adapter.WriteAction(_lastCommand, state, action);
        _recording!.Add(state, action, _camera.Capture(_recordJoints));
    }

    /// <summary>
    /// Holding means the commanded position stops changing. A moving arm first decelerates at its acceleration
    /// limits (a controlled stop, a tick or two from normal speeds; those ticks still command positions), then the
    /// driver holds there, and the next splice blends from the held position.
    /// </summary>
    private void HoldArm(TimeSpan interval)
    {
        _metrics.OnHold();
        _limiter.Position.CopyTo(_lastTarget);
        _lastTargetStep.AsSpan().Clear();
        if (_limiter.AtRest)
        {
            _driver.Hold();
            return;
        }

        if (interval < Period)
        {
            // Woken between ticks: the stop starts now, decelerating over the part of the period that has passed.
            _limiter.Stop(_command, interval.TotalSeconds);
            _metrics.OnCommandStep(MaxAbsDifference(_command, _lastCommand));
            _driver.Command(_command, interval);
            _command.CopyTo(_lastCommand.AsSpan());
            return;
        }

        _limiter.Stop(_command);
        CommandArm();
    }

    private void TakeCommands()
    {
        while (_commands.TryTake(out var command, out var route))
        {
            switch (command.Kind)
            {
                case RobotCommandKind.EStop:
                    ObserveEpoch(command.Epoch);
                    Latch(command.EStopGeneration, route);
                    ObserveTask(command.Task);
                    break;
                case RobotCommandKind.Resume:
                    // The bind posts the lease's word as a Resume too: it is the grain's answer, not a failure.
                    ObserveEpoch(command.Epoch);
                    ObserveTask(command.Task);
                    Unlatch(command.EStopGeneration, "resume");
                    break;
                case RobotCommandKind.TaskChanged:
                    ObserveEpoch(command.Epoch);
                    ObserveTask(command.Task);
                    // An episode is one task: the next opens when a chunk for the new one arrives.
                    _recording?.Close();
                    _task = command.Task;
                    _idlePhase = command.Task is null ? AgentPhase.Holding : AgentPhase.Waiting;
                    if (command.Task is null)
                    {
                        StopMotion(pollLater: false);
                    }
                    else
                    {
                        // Keep moving on what is left while the first chunk of the new task is computed.
                        AbandonRequest();
                        _nextRequestAt = 0;
                    }

                    break;
                case RobotCommandKind.LeaseRevoked:
                    // Another agent's epoch: whatever was issued to ours before it must not run any more.
                    ObserveEpoch(command.Epoch);
                    LogLeaseRevoked(command.Epoch);
                    StopMotion(pollLater: false);
                    break;
                case RobotCommandKind.BudgetChanged:
                default:
                    break;
            }
        }
    }

    private void Latch(long generation, CommandRoute route)
    {
        ObserveGeneration(generation);
        Interlocked.Exchange(ref _latchedGeneration, Math.Max(_latchedGeneration, generation));
        if (!_eStopped)
        {
            _eStopped = true;
            _eStopRoute = route;
            Interlocked.Exchange(ref _eStopLatchedAtTicks, _time.GetUtcNow().UtcTicks);
            LogEStop(_tick, generation);
        }

        StopMotion(pollLater: true);
    }

    /// <summary>Clears the fleet's latch when <paramref name="generation"/> is at least the latched one; true when it did (or none was set).</summary>
    private bool Unlatch(long generation, string what)
    {
        if (!_eStopped)
        {
            ObserveGeneration(generation);
            return true;
        }

        if (generation < _latchedGeneration)
        {
            LogStaleResume(what, generation, _latchedGeneration);
            return false;
        }

        ObserveGeneration(generation);
        _eStopped = false;
        _idlePhase = AgentPhase.Waiting;
        StopMotion(pollLater: false);
        LogResume(_tick, generation);
        return true;
    }

    private void ApplyLocalStop()
    {
        var engaged = _localStop?.Engaged ?? false;
        if (engaged == _localStopped)
        {
            return;
        }

        Volatile.Write(ref _localStopped, engaged);
        if (engaged)
        {
            LogLocalStop(_tick, _localStop!.Source ?? "unknown");
            StopMotion(pollLater: true);
        }
        else
        {
            LogLocalResume(_tick, _eStopped);
            if (!_eStopped)
            {
                _idlePhase = AgentPhase.Waiting;
                StopMotion(pollLater: false);
            }
        }
    }

    private void ObserveEpoch(long epoch) => _knownEpoch = Math.Max(_knownEpoch, epoch);

    private void ObserveGeneration(long generation) => _knownGeneration = Math.Max(_knownGeneration, generation);

    private void ObserveTask(RobotTask? task) => _knownTaskVersion = Math.Max(_knownTaskVersion, task?.Version ?? 0);

    /// <summary>
    /// Why <paramref name="chunk"/> must not run because something newer is known: an older lease epoch, task version
    /// or e-stop generation. A 0 ("not said", older grains) compares like any other number, so it passes only while
    /// nothing newer is known.
    /// </summary>
    private string? Superseded(ChunkResult chunk)
    {
        if (chunk.Epoch < _knownEpoch)
        {
            return "epoch";
        }

        if (chunk.EStopGeneration < Math.Max(_knownGeneration, _latchedGeneration))
        {
            return "estop_generation";
        }

        return chunk.Outcome == ChunkOutcome.Actions && Math.Max(chunk.TaskVersion, chunk.Task?.Version ?? 0) < _knownTaskVersion ? "task_version" : null;
    }

    /// <summary>Drops the plan and any request in flight: what they carry no longer applies.</summary>
    private void StopMotion(bool pollLater)
    {
        _recording?.Close();
        _plan.Clear();
        _moving = false;
        _measureJump = false;
        _gapTicks = 0;
        AbandonRequest();
        _nextRequestAt = pollLater ? _time.GetTimestamp() + ToTimestamp(_options.HoldPollInterval) : 0;
    }

    /// <summary>After the world moved the arm (an episode reset): nothing planned applies, and the limiter starts at rest where the arm is.</summary>
    private void TakeUpFromArm()
    {
        StopMotion(pollLater: false);
        _driver.ReadState(_lastCommand);
        _limiter.Reset(_lastCommand);
        _limiter.Position.CopyTo(_lastCommand);
        _limiter.Position.CopyTo(_lastTarget);
        _lastTargetStep.AsSpan().Clear();
    }

    private void AbandonRequest()
    {
        _generation++;
        _inflight = null;
    }

    private void TakeArrivedChunk(long tick)
    {
        var inflight = _inflight;
        if (inflight is null || !inflight.IsCompleted)
        {
            return;
        }

        _inflight = null;
        if (!inflight.IsCompletedSuccessfully || _inflightGeneration != _generation)
        {
            return;
        }

        var (result, latency) = inflight.Result;
        _metrics.OnRequestCompleted(latency);
        switch (result.Outcome)
        {
            case ChunkOutcome.Actions:
                if (Superseded(result) is { } reason)
                {
                    _metrics.OnSupersededChunk(reason);
                    LogSuperseded(reason, result.Epoch, result.TaskVersion, result.EStopGeneration, _knownEpoch, _knownTaskVersion, _knownGeneration);
                    break;
                }

                ObserveEpoch(result.Epoch);
                ObserveTask(result.Task);
                _knownTaskVersion = Math.Max(_knownTaskVersion, result.TaskVersion);

                // A chunk issued (not e-stopped) under a numbered generation at least the latched one: the resume push
                // was lost. A chunk that names no generation never clears a latch; only a resume does then.
                if (_eStopped && !(result.EStopGeneration > 0 && Unlatch(result.EStopGeneration, "chunk")))
                {
                    break;
                }

                ObserveGeneration(result.EStopGeneration);
                Splice(result, tick);

                break;
            case ChunkOutcome.Hold:
                // Stopping is never wrong, so an e-stopped hold latches whatever it was issued under. A hold that
                // says "not e-stopped" does not clear a latch: only a resume, or a chunk issued after it, does.
                if (result.EStopped)
                {
                    ObserveEpoch(result.Epoch);
                    Latch(result.EStopGeneration, CommandRoute.Reply);
                }
                else if (Superseded(result) is not null)
                {
                    // Out of date, but still a hold: ask again at the hold pace, not every tick.
                    _nextRequestAt = _time.GetTimestamp() + ToTimestamp(_options.HoldPollInterval);
                    break;
                }

                ObserveEpoch(result.Epoch);
                ObserveTask(result.Task);
                _task = result.Task;
                _idlePhase = AgentPhase.Holding;
                StopMotion(pollLater: true);
                break;
            case ChunkOutcome.Refused:
                // "Not now" from the fleet: the plan goes on untouched (the arm holds only once it runs out), and the
                // next request waits for the hint instead of adding to the load that caused the refusal.
                _metrics.OnRefused();
                _nextRequestAt = _time.GetTimestamp() + ToTimestamp(result.RetryAfter);
                LogRefused(result.RetryAfter.TotalMilliseconds, _plan.Remaining, result.Error ?? "");
                break;
            default:
                _metrics.OnRequestFailed(result.Error);
                _nextRequestAt = _time.GetTimestamp() + ToTimestamp(result.RetryAfter);
                LogRequestFailed(result.Error ?? "unknown error");
                break;
        }
    }

    private void Splice(ChunkResult chunk, long tick)
    {
        if (_eStopped || _localStopped)
        {
            return;
        }

        if (chunk.Steps <= 0 || chunk.ActionDim <= 0 || chunk.Actions.Length != chunk.Steps * chunk.ActionDim || !AllFinite(chunk.Actions))
        {
            _metrics.OnRequestFailed($"unusable chunk: {chunk.Steps} steps x {chunk.ActionDim} dims in {chunk.Actions.Length} values");
            return;
        }

        var skip = (int)Math.Min(int.MaxValue, tick - _inflightBaseTick);
        if (skip >= chunk.Steps)
        {
            _metrics.OnStaleChunk();
            LogStale(skip, chunk.Steps);
            return;
        }

        _task = chunk.Task ?? _task;
        if (_recording is not null && _task is { } task && _recording.Task != task.Instruction)
        {
            _recording.Open(task.Instruction);
        }

        var steps = chunk.Steps - skip;
        var incoming = _plan.BeginIncoming(steps);
        var joints = _driver.JointCount;
        for (var k = 0; k < steps; k++)
        {
            _adapter.ToJointTargets(chunk.Actions.AsSpan((skip + k) * chunk.ActionDim, chunk.ActionDim), _lastCommand, incoming.Slice(k * joints, joints));
        }

        if (_rejectStepFactor > 0 && FastestStep(incoming, steps) is { } fastest)
        {
            // The chunk's own motion is far beyond what the arm can do: not a policy worth slowing down. The old plan goes on.
            _metrics.OnRejectedChunk($"chunk rejected: joint {fastest.Joint} moves {fastest.Step:0.###} per period, over {_options.RejectSpeedFactor}x its velocity limit");
            LogRejected(fastest.Joint, fastest.Step, _options.RejectSpeedFactor);
            return;
        }

        _plan.Commit(steps, _options.BlendSteps, _lastCommand);
        _spliced = true;
        _moving = true;
        _idlePhase = AgentPhase.Waiting;
        _measureJump = true;
        _metrics.OnChunkExecuted();
    }

    private void StartRequestIfDue(long tick)
    {
        if (_inflight is not null)
        {
            // A request whose chunk could only arrive stale is abandoned so a fresh observation can go out.
            if (tick + 1 - _inflightBaseTick < _chunkSteps)
            {
                return;
            }

            AbandonRequest();
            _metrics.OnStaleChunk();
        }

        if (_plan.Remaining > _requestAheadSteps || _time.GetTimestamp() < _nextRequestAt)
        {
            return;
        }

        var capturedAt = _time.GetTimestamp();
        _driver.ReadState(_state);
        // What the arm holds from the next tick on: the fleet serves arms about to run out first. Never more than a chunk
        // of the model (the fleet refuses that), whatever the plan was spliced from.
        var held = Math.Min(_plan.Remaining, _chunkSteps);
        var observation = new Observation(++_sequence, _adapter.CreateState(_state), _camera.Capture(_state), _time.GetUtcNow(), ActionsHeld: held) { CapturedTimestamp = capturedAt };

        // Action 0 of the answer belongs to the next tick: the observation shows the arm after this tick's command.
        _inflightBaseTick = tick + 1;
        _inflightGeneration = _generation;
        _metrics.OnRequestStarted();
        _inflight = RequestAsync(observation);
    }

    private async Task<CompletedRequest> RequestAsync(Observation observation)
    {
        var started = _time.GetTimestamp();
        ChunkResult result;
        try
        {
            result = await _source.RequestAsync(observation, _stopping).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Sources should return failures, but a throwing one must not leave the loop without an answer.
            result = ChunkResult.Failed($"{ex.GetType().Name}: {ex.Message}");
        }

        return new CompletedRequest(result, _time.GetElapsedTime(started));
    }

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>
    /// Whether the plan's step from the last target to this one needs more than a joint's velocity or acceleration
    /// limit (with a part-per-thousand allowance for float rounding); records the step for the next tick.
    /// </summary>
    private bool PlanStepBeyondLimits()
    {
        var dt = (float)(1 / _driver.ControlHz);
        var maxVelocity = _driver.JointLimits.MaxVelocity;
        var maxAcceleration = _driver.JointLimits.MaxAcceleration;
        var beyond = false;
        for (var j = 0; j < _target.Length; j++)
        {
            var step = _target[j] - _lastTarget[j];
            beyond |= Math.Abs(step) > maxVelocity[j] * dt * 1.001f || Math.Abs(step - _lastTargetStep[j]) > maxAcceleration[j] * dt * dt * 1.001f;
            _lastTargetStep[j] = step;
        }

        return beyond;
    }

    /// <summary>The first joint whose step between two consecutive rows exceeds RejectSpeedFactor x its velocity limit x dt; null if none.</summary>
    private (int Joint, float Step)? FastestStep(ReadOnlySpan<float> rows, int steps)
    {
        var joints = _driver.JointCount;
        var maxVelocity = _driver.JointLimits.MaxVelocity;
        for (var k = 1; k < steps; k++)
        {
            for (var j = 0; j < joints; j++)
            {
                var step = Math.Abs(rows[(k * joints) + j] - rows[((k - 1) * joints) + j]);
                if (step > _rejectStepFactor * maxVelocity[j])
                {
                    return (j, step);
                }
            }
        }

        return null;
    }

    private static double MaxAbsDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }

        return true;
    }

    private readonly record struct CompletedRequest(ChunkResult Result, TimeSpan Latency);

    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Control loop started: {Embodiment} at {ControlHz} Hz, chunk {Chunk} steps, request {Ahead} steps ahead, blend {Blend} steps")]
    private partial void LogStarted(Embodiment embodiment, double controlHz, int chunk, int ahead, int blend);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Control loop stopped after {Ticks} ticks")]
    private partial void LogStopped(long ticks);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "E-stop (generation {Generation}) latched at tick {Tick}: controlled stop, then holding until a resume")]
    private partial void LogEStop(long tick, long generation);

    [LoggerMessage(EventId = 703, Level = LogLevel.Information, Message = "Resumed at tick {Tick} (e-stop generation {Generation})")]
    private partial void LogResume(long tick, long generation);

    [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "Lease revoked (epoch {Epoch}): another agent holds the robot; holding position")]
    private partial void LogLeaseRevoked(long epoch);

    [LoggerMessage(EventId = 705, Level = LogLevel.Debug, Message = "Dropped a stale chunk: {Elapsed} of its {Steps} steps had passed")]
    private partial void LogStale(int elapsed, int steps);

    [LoggerMessage(EventId = 706, Level = LogLevel.Debug, Message = "Chunk request failed: {Error}")]
    private partial void LogRequestFailed(string error);

    [LoggerMessage(EventId = 727, Level = LogLevel.Debug, Message = "Chunk request refused for now; asking again in {RetryAfterMs:0} ms, {Remaining} actions left to execute ({Reason})")]
    private partial void LogRefused(double retryAfterMs, int remaining, string reason);

    [LoggerMessage(EventId = 707, Level = LogLevel.Warning, Message = "Ignored a {What} of e-stop generation {Generation}: the latch holds generation {Latched}")]
    private partial void LogStaleResume(string what, long generation, long latched);

    [LoggerMessage(EventId = 708, Level = LogLevel.Warning,
        Message = "Dropped a chunk issued under an older {Reason}: epoch {Epoch}, task version {TaskVersion}, e-stop generation {Generation} (known: {KnownEpoch}, {KnownTaskVersion}, {KnownGeneration})")]
    private partial void LogSuperseded(string reason, long epoch, long taskVersion, long generation, long knownEpoch, long knownTaskVersion, long knownGeneration);

    [LoggerMessage(EventId = 709, Level = LogLevel.Warning, Message = "Local stop ({Source}) at tick {Tick}: controlled stop, then holding until a local resume")]
    private partial void LogLocalStop(long tick, string source);

    [LoggerMessage(EventId = 725, Level = LogLevel.Warning, Message = "Local stop released at tick {Tick}; fleet e-stop still latched: {EStopped}")]
    private partial void LogLocalResume(long tick, bool eStopped);

    [LoggerMessage(EventId = 726, Level = LogLevel.Warning, Message = "Rejected a chunk: joint {Joint} moves {Step} per period, over {Factor}x its velocity limit")]
    private partial void LogRejected(int joint, float step, double factor);
}
