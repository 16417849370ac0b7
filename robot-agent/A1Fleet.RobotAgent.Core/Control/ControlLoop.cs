using A1Fleet.Grains;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// Executes action chunks at the arm's control rate and keeps the next chunk coming (asynchronous execution).
/// <para>Each tick (1/ControlHz, on the injected <see cref="TimeProvider"/>): apply pushed commands (an e-stop
/// takes effect here, so within one period); splice a chunk that has arrived; then either hold (e-stopped, or
/// no action left: an idle gap when the arm was moving) or command the next action, clamped to the joint limits.
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
    private volatile bool _eStopped;
    private volatile RobotTask? _task;
    private volatile AgentPhase _phase = AgentPhase.Waiting;
    private AgentPhase _idlePhase = AgentPhase.Waiting;

    public ControlLoop(IArmDriver driver, SimulatedCamera camera, ModelAdapter adapter, ModelSpec model, IChunkSource source, RobotCommandInbox commands,
        ControlLoopOptions options, AgentMetrics metrics, TimeProvider time, ILogger logger, ArmRecording? recording = null)
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
        Period = TimeSpan.FromTicks((long)Math.Round(TimeSpan.TicksPerSecond / driver.ControlHz));
        driver.ReadState(_lastCommand);
    }

    /// <summary>One control period (1/ControlHz).</summary>
    public TimeSpan Period { get; }

    /// <summary>Ticks run so far.</summary>
    public long Ticks => Interlocked.Read(ref _tick);

    /// <summary>Remaining actions at or below which the next chunk is requested.</summary>
    public int RequestAheadSteps => _requestAheadSteps;

    public bool EStopped => _eStopped;

    public RobotTask? Task => _task;

    public AgentPhase Phase => _phase;

    /// <summary>Ticks until <paramref name="cancellationToken"/> fires; the first tick runs at once, then one per <see cref="Period"/>.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("this control loop is already running");
        }

        _stopping = cancellationToken;
        using var waiter = new TickWaiter(_time, cancellationToken);
        var start = _time.GetTimestamp();
        long scheduled = 0;
        LogStarted(_driver.Embodiment, _driver.ControlHz, _chunkSteps, _requestAheadSteps, _options.BlendSteps);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Tick();
                scheduled++;

                // Ticks are due at start + k * period, so waiting never accumulates drift.
                var wait = (scheduled * Period) - _time.GetElapsedTime(start);
                if (wait > TimeSpan.Zero)
                {
                    if (!await waiter.WaitAsync(wait).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                else if (-wait > Period)
                {
                    // More than a period behind (a stalled machine): drop the missed ticks rather than burst them. The plan
                    // is not advanced over them either: the arm goes on from where it is, late, instead of jumping ahead.
                    var missed = (long)(-wait / Period);
                    scheduled += missed;
                    _metrics.OnOverrun(missed);
                }
            }
        }
        finally
        {
            _driver.Hold();
            _recording?.Close();
            _phase = AgentPhase.Stopped;
            LogStopped(_tick);
        }
    }

    /// <summary>One control period's work; internal so tests can count what a tick allocates.</summary>
    internal void Tick()
    {
        var tick = _tick;
        TakeCommands();
        TakeArrivedChunk(tick);

        // The recorded observation is the arm before this tick's command, as a request would capture it.
        var recording = _recording is { IsOpen: true } && _task is not null;
        if (recording)
        {
            _driver.ReadState(_recordJoints);
        }

        if (_eStopped)
        {
            HoldArm();
            _phase = AgentPhase.EStopped;
        }
        else if (_plan.Remaining > 0)
        {
            ExecuteNextAction();
        }
        else
        {
            HoldArm();
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

        StartRequestIfDue(tick);
        _metrics.OnTick();
        Interlocked.Increment(ref _tick);
    }

    private void ExecuteNextAction()
    {
        _plan.Next().CopyTo(_command);
        var clamped = _driver.JointLimits.Clamp(_command);
        if (clamped > 0)
        {
            _metrics.OnClamped(clamped);
        }

        if (_measureJump)
        {
            _measureJump = false;
            _metrics.OnSplice(MaxAbsDifference(_command, _lastCommand));
        }

        _driver.Command(_command);
        _command.CopyTo(_lastCommand.AsSpan());
        _gapTicks = 0;
        _phase = AgentPhase.Executing;
    }

    private void RecordFrame()
    {
        var state = _adapter.CreateState(_recordJoints);
        var action = new float[_adapter.ActionDim];

        // _lastCommand is what the arm was told this tick: the executed (clamped, blended) target, or where it holds.
        _adapter.WriteAction(_lastCommand, state, action);
        _recording!.Add(state, action, _camera.Capture(_recordJoints));
    }

    private void HoldArm()
    {
        _driver.Hold();
        _metrics.OnHold();

        // Holding means staying where the arm is, so the next splice blends from here.
        _driver.ReadState(_lastCommand);
    }

    private void TakeCommands()
    {
        while (_commands.TryTake(out var command))
        {
            switch (command.Kind)
            {
                case RobotCommandKind.EStop:
                    if (!_eStopped)
                    {
                        _eStopped = true;
                        LogEStop(_tick);
                    }

                    StopMotion(pollLater: true);
                    break;
                case RobotCommandKind.Resume:
                    // A resume while moving changes nothing; after an e-stop the plan is already gone.
                    if (_eStopped)
                    {
                        _eStopped = false;
                        _idlePhase = AgentPhase.Waiting;
                        StopMotion(pollLater: false);
                        LogResume(_tick);
                    }

                    break;
                case RobotCommandKind.TaskChanged:
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
                    LogLeaseRevoked(command.Epoch);
                    StopMotion(pollLater: false);
                    break;
                case RobotCommandKind.BudgetChanged:
                default:
                    break;
            }
        }
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
                Splice(result, tick);
                break;
            case ChunkOutcome.Hold:
                _task = result.Task;

                // The fleet's word wins over a lost push, both ways.
                if (result.EStopped && !_eStopped)
                {
                    _eStopped = true;
                    LogEStop(tick);
                }
                else if (!result.EStopped && _eStopped)
                {
                    _eStopped = false;
                    LogResume(tick);
                }

                _idlePhase = AgentPhase.Holding;
                StopMotion(pollLater: true);
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
        if (_eStopped)
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

        _plan.Commit(steps, _options.BlendSteps, _lastCommand);
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

        _driver.ReadState(_state);
        var observation = new Observation(++_sequence, _adapter.CreateState(_state), _camera.Capture(_state), _time.GetUtcNow());

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

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "E-stop applied at tick {Tick}: holding position")]
    private partial void LogEStop(long tick);

    [LoggerMessage(EventId = 703, Level = LogLevel.Information, Message = "Resumed at tick {Tick}")]
    private partial void LogResume(long tick);

    [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "Lease revoked (epoch {Epoch}): another agent holds the robot; holding position")]
    private partial void LogLeaseRevoked(long epoch);

    [LoggerMessage(EventId = 705, Level = LogLevel.Debug, Message = "Dropped a stale chunk: {Elapsed} of its {Steps} steps had passed")]
    private partial void LogStale(int elapsed, int steps);

    [LoggerMessage(EventId = 706, Level = LogLevel.Debug, Message = "Chunk request failed: {Error}")]
    private partial void LogRequestFailed(string error);
}
