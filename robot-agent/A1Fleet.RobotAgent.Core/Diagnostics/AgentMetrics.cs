using A1Fleet.Grains;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Diagnostics;

/// <summary>
/// One agent's counters: written by its control loop (and binds by its chunk source), read by the reporter
/// and the live view from other threads, and forwarded to the process-wide <see cref="AgentInstruments"/>.
/// Counters are updated with interlocked adds; the splice-jump and latency sums are written by the loop
/// thread only, so readers at worst see the previous value.
/// </summary>
public sealed class AgentMetrics
{
    private readonly AgentInstruments _instruments;
    private readonly KeyValuePair<string, object?> _tag;
    private long _controlTicks;
    private long _holdTicks;
    private long _clamped;
    private long _idleGaps;
    private long _idleGapTicks;
    private long _longestIdleGap;
    private long _chunksExecuted;
    private long _staleChunks;
    private long _splices;
    private long _requests;
    private long _requestFailures;
    private long _refusals;
    private long _binds;
    private long _overruns;
    private long _latencyCount;
    private double _latencySumMs;
    private double _lastLatencyMs;
    private double _jumpSum;
    private double _maxJump;
    private double _maxCommandStep;
    private long _slowedTicks;
    private long _rampedTicks;
    private long _rejectedChunks;
    private long _supersededChunks;
    private long _localStops;
    private long _episodes;
    private long _successes;
    private volatile string? _lastError;

    public AgentMetrics(Embodiment embodiment, AgentInstruments? instruments = null)
    {
        _instruments = instruments ?? AgentInstruments.Shared;
        _tag = new KeyValuePair<string, object?>("embodiment", embodiment.ToString().ToLowerInvariant());
    }

    public long ControlTicks => Interlocked.Read(ref _controlTicks);

    public long HoldTicks => Interlocked.Read(ref _holdTicks);

    public long ClampedActions => Interlocked.Read(ref _clamped);

    public long IdleGaps => Interlocked.Read(ref _idleGaps);

    public long IdleGapTicks => Interlocked.Read(ref _idleGapTicks);

    public long LongestIdleGapTicks => Interlocked.Read(ref _longestIdleGap);

    public long ChunksExecuted => Interlocked.Read(ref _chunksExecuted);

    public long StaleChunks => Interlocked.Read(ref _staleChunks);

    public long Splices => Interlocked.Read(ref _splices);

    public long Requests => Interlocked.Read(ref _requests);

    public long RequestFailures => Interlocked.Read(ref _requestFailures);

    /// <summary>Requests the fleet refused for now (not failures: the arm went on with what it held).</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    public long Binds => Interlocked.Read(ref _binds);

    public long TickOverruns => Interlocked.Read(ref _overruns);

    public double MaxSpliceJump => Volatile.Read(ref _maxJump);

    /// <summary>Largest change of any joint's commanded position between two consecutive commands (the limiter keeps it within vmax·dt).</summary>
    public double MaxCommandStep => Volatile.Read(ref _maxCommandStep);

    public double MeanSpliceJump => Splices == 0 ? 0 : Volatile.Read(ref _jumpSum) / Splices;

    public double MeanRequestLatencyMs => Interlocked.Read(ref _latencyCount) == 0 ? 0 : Volatile.Read(ref _latencySumMs) / Interlocked.Read(ref _latencyCount);

    public double LastRequestLatencyMs => Volatile.Read(ref _lastLatencyMs);

    public string? LastError => _lastError;

    /// <summary>Ticks on which the chunk's own motion asked for more than a joint's limits and was slowed to them.</summary>
    public long SlowedTicks => Interlocked.Read(ref _slowedTicks);

    /// <summary>Ticks spent ramping from where the arm was to a chunk that started farther than one period's motion away.</summary>
    public long RampedTicks => Interlocked.Read(ref _rampedTicks);

    /// <summary>Chunks refused whole (see <see cref="Control.ControlLoopOptions.RejectSpeedFactor"/>).</summary>
    public long RejectedChunks => Interlocked.Read(ref _rejectedChunks);

    /// <summary>Chunks dropped because they were issued under an older lease epoch, task version or e-stop generation than the agent knew.</summary>
    public long SupersededChunks => Interlocked.Read(ref _supersededChunks);

    /// <summary>Local stops engaged (signal or loopback HTTP).</summary>
    public long LocalStops => Interlocked.Read(ref _localStops);

    /// <summary>Episodes of the simulated task that ended (see <see cref="Tasks.TabletopEpisodes"/>).</summary>
    public long Episodes => Interlocked.Read(ref _episodes);

    /// <summary>Episodes the simulated world judged successful.</summary>
    public long Successes => Interlocked.Read(ref _successes);

    /// <summary>What the robot grain keeps of this agent (see <see cref="IRobotGrain.ReportAgentCounters"/>).</summary>
    public AgentCounters ToCounters()
    {
        // Successes first: OnEpisode counts the episode before its success, so a reader never sees more successes than episodes.
        var successes = Successes;
        return new(ControlTicks, HoldTicks, ClampedActions, IdleGaps, MaxSpliceJump, ChunksExecuted, Episodes, successes);
    }

    internal void OnEpisode(bool succeeded)
    {
        Interlocked.Increment(ref _episodes);
        if (succeeded)
        {
            Interlocked.Increment(ref _successes);
        }

        _instruments.OnEpisode(succeeded, _tag);
    }

    internal void OnTick()
    {
        Interlocked.Increment(ref _controlTicks);
        _instruments.OnTick(_tag);
    }

    internal void OnHold()
    {
        Interlocked.Increment(ref _holdTicks);
        _instruments.OnHold(_tag);
    }

    internal void OnClamped(int values)
    {
        Interlocked.Add(ref _clamped, values);
        _instruments.OnClamped(values, _tag);
    }

    internal void OnIdleGapStarted()
    {
        Interlocked.Increment(ref _idleGaps);
        _instruments.OnIdleGap(_tag);
    }

    internal void OnIdleGapTick(long gapLengthSoFar)
    {
        Interlocked.Increment(ref _idleGapTicks);
        if (gapLengthSoFar > Interlocked.Read(ref _longestIdleGap))
        {
            Interlocked.Exchange(ref _longestIdleGap, gapLengthSoFar);
        }

        _instruments.OnIdleGapTick(_tag);
    }

    internal void OnChunkExecuted()
    {
        Interlocked.Increment(ref _chunksExecuted);
        _instruments.OnChunkExecuted(_tag);
    }

    internal void OnStaleChunk()
    {
        Interlocked.Increment(ref _staleChunks);
        _instruments.OnStaleChunk(_tag);
    }

    internal void OnSplice(double jump)
    {
        Volatile.Write(ref _jumpSum, _jumpSum + jump);
        if (jump > _maxJump)
        {
            Volatile.Write(ref _maxJump, jump);
        }

        Interlocked.Increment(ref _splices);
        _instruments.OnSpliceJump(jump, _tag);
    }

    /// <summary>Loop thread only; no instrument, so a tick stays cheap.</summary>
    internal void OnCommandStep(double step)
    {
        if (step > _maxCommandStep)
        {
            Volatile.Write(ref _maxCommandStep, step);
        }
    }

    /// <summary>The driver's own report of a command beyond a joint limit (see <see cref="Drivers.SimulatedArm.LimitViolations"/>).</summary>
    public void OnDriverLimitViolation(DriverLimit limit) => _instruments.OnDriverLimitViolation(limit, _tag);

    internal void OnRequestStarted()
    {
        Interlocked.Increment(ref _requests);
        _instruments.OnRequest(_tag);
    }

    internal void OnRequestCompleted(TimeSpan latency)
    {
        var ms = latency.TotalMilliseconds;
        Volatile.Write(ref _lastLatencyMs, ms);
        Volatile.Write(ref _latencySumMs, _latencySumMs + ms);
        Interlocked.Increment(ref _latencyCount);
        _instruments.OnRequestLatency(ms, _tag);
    }

    internal void OnRefused()
    {
        Interlocked.Increment(ref _refusals);
        _instruments.OnRefused(_tag);
    }

    internal void OnRequestFailed(string? error)
    {
        Interlocked.Increment(ref _requestFailures);
        if (error is not null)
        {
            _lastError = error;
        }

        _instruments.OnRequestFailed(_tag);
    }

    internal void OnBind()
    {
        Interlocked.Increment(ref _binds);
        _instruments.OnBind(_tag);
    }

    internal void OnOverrun(long ticks)
    {
        Interlocked.Add(ref _overruns, ticks);
        _instruments.OnOverrun(ticks, _tag);
    }

    internal void OnError(string error) => _lastError = error;

    internal void OnSlowedTick()
    {
        Interlocked.Increment(ref _slowedTicks);
        _instruments.OnSlowedTick(_tag);
    }

    internal void OnRampedTick()
    {
        Interlocked.Increment(ref _rampedTicks);
        _instruments.OnRampedTick(_tag);
    }

    internal void OnRejectedChunk(string reason)
    {
        Interlocked.Increment(ref _rejectedChunks);
        _lastError = reason;
        _instruments.OnRejectedChunk(_tag);
    }

    internal void OnSupersededChunk(string reason)
    {
        Interlocked.Increment(ref _supersededChunks);
        _instruments.OnSupersededChunk(reason, _tag);
    }

    internal void OnLocalStop()
    {
        Interlocked.Increment(ref _localStops);
        _instruments.OnLocalStop(_tag);
    }
}
