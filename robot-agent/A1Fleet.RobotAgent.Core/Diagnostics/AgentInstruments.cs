using System.Diagnostics.Metrics;

namespace A1Fleet.RobotAgent.Diagnostics;

/// <summary>
/// The agent's metrics (meter "A1Fleet.RobotAgent"). One instance serves every agent of a process (the fleet
/// demo runs dozens); the only tag is the embodiment, never the robot id, so series stay bounded however
/// many arms there are. Per-robot numbers go to the robot grain through <c>ReportAgentCounters</c> instead.
/// </summary>
public sealed class AgentInstruments
{
    public const string MeterName = "A1Fleet.RobotAgent";

    private static readonly double[] LatencyBuckets = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000];
    private static readonly double[] JumpBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

    private readonly Counter<long> _ticks;
    private readonly Counter<long> _holdTicks;
    private readonly Counter<long> _clamped;
    private readonly Counter<long> _idleGaps;
    private readonly Counter<long> _idleGapTicks;
    private readonly Counter<long> _chunks;
    private readonly Counter<long> _staleChunks;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _requestFailures;
    private readonly Counter<long> _rebinds;
    private readonly Counter<long> _overruns;
    private readonly Histogram<double> _requestLatency;
    private readonly Histogram<double> _spliceJump;

    public AgentInstruments(IMeterFactory meterFactory)
        : this(meterFactory.Create(MeterName))
    {
    }

    private AgentInstruments(Meter meter)
    {
        _ticks = meter.CreateCounter<long>("a1fleet.agent.control_ticks", "{tick}", "Control ticks run");
        _holdTicks = meter.CreateCounter<long>("a1fleet.agent.hold_ticks", "{tick}", "Ticks the arm held position (e-stop, no task, no fresh action)");
        _clamped = meter.CreateCounter<long>("a1fleet.agent.clamped_actions", "{value}", "Joint targets clamped to the joint limits");
        _idleGaps = meter.CreateCounter<long>("a1fleet.agent.idle_gaps", "{gap}", "Times a moving arm ran out of actions before the next chunk arrived");
        _idleGapTicks = meter.CreateCounter<long>("a1fleet.agent.idle_gap_ticks", "{tick}", "Ticks spent in idle gaps");
        _chunks = meter.CreateCounter<long>("a1fleet.agent.chunks_executed", "{chunk}", "Chunks spliced into the plan and executed");
        _staleChunks = meter.CreateCounter<long>("a1fleet.agent.stale_chunks", "{chunk}", "Chunks dropped because they were older than one chunk duration");
        _requests = meter.CreateCounter<long>("a1fleet.agent.requests", "{request}", "Chunk requests sent");
        _requestFailures = meter.CreateCounter<long>("a1fleet.agent.request_failures", "{request}", "Chunk requests that failed, timed out or returned unusable actions");
        _rebinds = meter.CreateCounter<long>("a1fleet.agent.binds", "{bind}", "Binds to the robot grain, first one included");
        _overruns = meter.CreateCounter<long>("a1fleet.agent.tick_overruns", "{tick}", "Control ticks skipped because the loop fell behind");
        _requestLatency = meter.CreateHistogram("a1fleet.agent.request_latency", "ms", "Observation sent to chunk received, as the agent measures it",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _spliceJump = meter.CreateHistogram("a1fleet.agent.splice_jump", "rad", "Largest joint-target step at a chunk splice (metres or ratio for grippers)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = JumpBuckets });
    }

    /// <summary>For agents built without dependency injection (the fleet demo, tests).</summary>
    public static AgentInstruments Shared { get; } = new(new Meter(MeterName));

    public void OnTick(in KeyValuePair<string, object?> tag) => _ticks.Add(1, tag);

    public void OnHold(in KeyValuePair<string, object?> tag) => _holdTicks.Add(1, tag);

    public void OnClamped(int values, in KeyValuePair<string, object?> tag) => _clamped.Add(values, tag);

    public void OnIdleGap(in KeyValuePair<string, object?> tag) => _idleGaps.Add(1, tag);

    public void OnIdleGapTick(in KeyValuePair<string, object?> tag) => _idleGapTicks.Add(1, tag);

    public void OnChunkExecuted(in KeyValuePair<string, object?> tag) => _chunks.Add(1, tag);

    public void OnStaleChunk(in KeyValuePair<string, object?> tag) => _staleChunks.Add(1, tag);

    public void OnRequest(in KeyValuePair<string, object?> tag) => _requests.Add(1, tag);

    public void OnRequestFailed(in KeyValuePair<string, object?> tag) => _requestFailures.Add(1, tag);

    public void OnBind(in KeyValuePair<string, object?> tag) => _rebinds.Add(1, tag);

    public void OnOverrun(long ticks, in KeyValuePair<string, object?> tag) => _overruns.Add(ticks, tag);

    public void OnRequestLatency(double milliseconds, in KeyValuePair<string, object?> tag) => _requestLatency.Record(milliseconds, tag);

    public void OnSpliceJump(double jump, in KeyValuePair<string, object?> tag) => _spliceJump.Record(jump, tag);
}
