using System.Diagnostics;
using System.Diagnostics.Metrics;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;

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
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _rebinds;
    private readonly Counter<long> _overruns;
    private readonly Histogram<double> _requestLatency;
    private readonly Histogram<double> _spliceJump;
    private readonly Counter<long> _slowedTicks;
    private readonly Counter<long> _rampedTicks;
    private readonly Counter<long> _rejectedChunks;
    private readonly Counter<long> _supersededChunks;
    private readonly Counter<long> _localStops;
    private readonly Counter<long> _driverLimitViolations;
    private readonly Counter<long> _episodes;

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
        _refusals = meter.CreateCounter<long>("a1fleet.agent.refusals", "{request}", "Chunk requests the fleet refused for now (deadline out of reach); the arm kept executing what it held");
        _rebinds = meter.CreateCounter<long>("a1fleet.agent.binds", "{bind}", "Binds to the robot grain, first one included");
        _overruns = meter.CreateCounter<long>("a1fleet.agent.tick_overruns", "{tick}", "Control ticks skipped because the loop fell behind");
        _requestLatency = meter.CreateHistogram("a1fleet.agent.request_latency", "ms", "Observation sent to chunk received, as the agent measures it",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _spliceJump = meter.CreateHistogram("a1fleet.agent.splice_jump", "rad", "Largest joint-target step at a chunk splice (metres or ratio for grippers)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = JumpBuckets });
        _slowedTicks = meter.CreateCounter<long>("a1fleet.agent.slowed_ticks", "{tick}",
            "Ticks on which a chunk asked for more than a joint's velocity or acceleration limit and was slowed to it");
        _rampedTicks = meter.CreateCounter<long>("a1fleet.agent.ramped_ticks", "{tick}",
            "Ticks spent ramping, within the limits, from where the arm was to a chunk that started elsewhere");
        _rejectedChunks = meter.CreateCounter<long>("a1fleet.agent.rejected_chunks", "{chunk}",
            "Chunks refused because their own motion exceeded RejectSpeedFactor times a joint's velocity limit");
        _supersededChunks = meter.CreateCounter<long>("a1fleet.agent.superseded_chunks", "{chunk}",
            "Chunks dropped because they were issued under an older lease epoch, task version or e-stop generation (tag reason)");
        _localStops = meter.CreateCounter<long>("a1fleet.agent.local_stops", "{stop}", "Local stops engaged at the arm (signal or loopback HTTP)");
        _episodes = meter.CreateCounter<long>("a1fleet.agent.episodes", "{episode}",
            "Episodes of the arm's simulated task that ended, by outcome (success or failure: the simulated world's decision)");
        _driverLimitViolations = meter.CreateCounter<long>("a1fleet.agent.driver_limit_violations", "{command}",
            "Commands the driver received that broke a joint's position, velocity or acceleration limit, as the driver checks them (tag limit); the limiter should keep this at 0");
        meter.CreateObservableGauge("a1fleet.agent.joint_velocity_limit", () => VelocityLimits, "rad/s",
            "Velocity limit the agent enforces per joint (m/s or ratio/s for grippers)");
        meter.CreateObservableGauge("a1fleet.agent.joint_acceleration_limit", () => AccelerationLimits, "rad/s2",
            "Acceleration limit the agent enforces per joint (m/s² or ratio/s² for grippers)");
    }

    /// <summary>The limits are the profiles', the same for every agent of an embodiment: one series per joint, whatever the fleet size.</summary>
    private static readonly Measurement<double>[] VelocityLimits = LimitMeasurements(j => j.MaxVelocity);

    private static readonly Measurement<double>[] AccelerationLimits = LimitMeasurements(j => j.MaxAcceleration);

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

    public void OnRefused(in KeyValuePair<string, object?> tag) => _refusals.Add(1, tag);

    public void OnBind(in KeyValuePair<string, object?> tag) => _rebinds.Add(1, tag);

    public void OnOverrun(long ticks, in KeyValuePair<string, object?> tag) => _overruns.Add(ticks, tag);

    public void OnRequestLatency(double milliseconds, in KeyValuePair<string, object?> tag) => _requestLatency.Record(milliseconds, tag);

    public void OnSpliceJump(double jump, in KeyValuePair<string, object?> tag) => _spliceJump.Record(jump, tag);

    public void OnSlowedTick(in KeyValuePair<string, object?> tag) => _slowedTicks.Add(1, tag);

    public void OnRampedTick(in KeyValuePair<string, object?> tag) => _rampedTicks.Add(1, tag);

    public void OnRejectedChunk(in KeyValuePair<string, object?> tag) => _rejectedChunks.Add(1, tag);

    public void OnSupersededChunk(string reason, in KeyValuePair<string, object?> tag) => _supersededChunks.Add(1, tag, new KeyValuePair<string, object?>("reason", reason));

    public void OnLocalStop(in KeyValuePair<string, object?> tag) => _localStops.Add(1, tag);

    public void OnEpisode(bool succeeded, in KeyValuePair<string, object?> tag) =>
        _episodes.Add(1, tag, new KeyValuePair<string, object?>("outcome", succeeded ? "success" : "failure"));

    public void OnDriverLimitViolation(DriverLimit limit, in KeyValuePair<string, object?> tag) =>
        _driverLimitViolations.Add(1, tag, new KeyValuePair<string, object?>("limit", limit switch
        {
            DriverLimit.Position => "position",
            DriverLimit.Velocity => "velocity",
            _ => "acceleration",
        }));

    private static Measurement<double>[] LimitMeasurements(Func<JointSpec, float> limit) =>
    [
        .. Enum.GetValues<Embodiment>().SelectMany(e => EmbodimentProfile.For(e).Joints.Select(j => new Measurement<double>(limit(j),
            new TagList { { "embodiment", e.ToString().ToLowerInvariant() }, { "joint", j.Name } }))),
    ];
}
