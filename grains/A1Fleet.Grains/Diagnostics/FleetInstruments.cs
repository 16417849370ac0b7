using System.Diagnostics.Metrics;

namespace A1Fleet.Grains.Diagnostics;

/// <summary>
/// The fleet's own metrics (meter "A1Fleet"). Tags come from closed sets: model id, embodiment, error
/// kind, refusal reason. The one robot tag (on refusals, where "which robot" is the question) is bounded: the first
/// <see cref="MaxRobotTagValues"/> robots refused on this silo keep their id, every later one reads "other".
/// </summary>
public sealed class FleetInstruments
{
    public const string MeterName = "A1Fleet";

    /// <summary>Distinct robot ids a silo's refusal series may carry; the rest are tagged "other".</summary>
    public const int MaxRobotTagValues = 256;

    // Buckets resolve the budgets robots use (50 ms control period to 1 s).
    private static readonly double[] LatencyBuckets = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000];

    private readonly Histogram<int> _exitLayer;
    private readonly Histogram<double> _layerFraction;
    private readonly Histogram<int> _denoisingSteps;
    private readonly Histogram<double> _queueMs;
    private readonly Histogram<double> _computeMs;
    private readonly Histogram<double> _endToEndMs;
    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _budgetMisses;
    private readonly Counter<long> _forcedExits;
    private readonly Counter<long> _refusals;
    private readonly HashSet<string> _taggedRobots = new(StringComparer.Ordinal);
    private readonly Counter<long> _errors;
    private readonly Counter<long> _hedges;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _holds;
    private readonly Counter<long> _operatorCommands;
    private readonly Counter<long> _unconfirmed;
    private readonly Dictionary<string, (string Version, long Changed)> _liveThresholds = [];
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Model, int Done, int Total, bool Running)> _calibrations = [];

    public FleetInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _exitLayer = meter.CreateHistogram("a1fleet.inference.exit_layer", "{layer}", "LM layer at which requests exited (0-based)",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = Enumerable.Range(0, 33).ToArray() });
        _layerFraction = meter.CreateHistogram("a1fleet.inference.layer_fraction", "1", "Share of LM layers run per request",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] });
        _denoisingSteps = meter.CreateHistogram("a1fleet.inference.denoising_steps", "{step}", "Euler steps per request over all exits",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 2, 4, 6, 8, 10, 14, 20, 30, 60] });
        _queueMs = meter.CreateHistogram("a1fleet.inference.queue_time", "ms", "Time from arrival at the inference grain to batch start",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _computeMs = meter.CreateHistogram("a1fleet.inference.compute_time", "ms", "Engine time of the request inside its batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _endToEndMs = meter.CreateHistogram("a1fleet.inference.latency", "ms", "Arrival to chunk, as measured by the inference grain",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _batchSize = meter.CreateHistogram("a1fleet.inference.batch_size", "{request}", "Requests per launched batch",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64] });
        _requests = meter.CreateCounter<long>("a1fleet.inference.requests", "{request}", "Requests answered by inference grains");
        _budgetMisses = meter.CreateCounter<long>("a1fleet.inference.budget_misses", "{request}", "Requests answered after their deadline");
        _forcedExits = meter.CreateCounter<long>("a1fleet.inference.forced_exits", "{request}",
            "Requests stopped at a layer cap their deadline set, before the exit test let them go (early exits are not counted)");
        _refusals = meter.CreateCounter<long>("a1fleet.inference.refusals", "{request}",
            "Requests refused at once (not now, with a retry hint) because they could not be answered by their deadline or were over a bound; by model, reason and robot (bounded)");
        _errors = meter.CreateCounter<long>("a1fleet.inference.errors", "{request}", "Requests that failed, by kind");
        _hedges = meter.CreateCounter<long>("a1fleet.inference.hedges", "{request}",
            "Requests a robot grain also sent to the next silo serving the model because the first had not answered while a first exit elsewhere could still make the deadline; by model and winner (hedge: the second silo's answer was used)");
        _failovers = meter.CreateCounter<long>("a1fleet.inference.failovers", "{call}",
            "Calls a robot grain sent on to the next silo serving the model: the silo was gone or unreachable (silo_unavailable) or its queue was full (queue_full); by model and reason");
        _holds = meter.CreateCounter<long>("a1fleet.robot.holds", "{request}", "Robot requests answered with hold (no task or e-stopped)");
        _operatorCommands = meter.CreateCounter<long>("a1fleet.operator.commands", "{command}", "Operator commands by kind");
        _unconfirmed = meter.CreateCounter<long>("a1fleet.operator.unconfirmed_robots", "{robot}", "Robots an e-stop or resume left unconfirmed at its deadline, by command");
        meter.CreateObservableGauge("a1fleet.calibration.jobs_running", () => ObserveCalibrations(c => c.Running ? 1 : 0), "{job}",
            "Calibration jobs running, coordinated on this silo");
        meter.CreateObservableGauge("a1fleet.calibration.samples_done", () => ObserveCalibrations(c => c.Done), "{sample}",
            "Samples whose shards are done, over the running jobs and the last finished one per model");
        meter.CreateObservableGauge("a1fleet.calibration.samples_total", () => ObserveCalibrations(c => c.Total), "{sample}",
            "Calibration samples of the running jobs and the last finished one per model");
        meter.CreateObservableGauge("a1fleet.thresholds.live_version_changed", ObserveThresholds, "s",
            "Unix time at which the live threshold version was last switched, per model and version");
    }

    public void OnRequestCompleted(string model, int exitLayer, double layerFraction, int denoisingSteps, double queueMs, double computeMs, double totalMs, bool budgetMissed,
        bool forcedExit = false)
    {
        var tag = new KeyValuePair<string, object?>("model", model);
        _requests.Add(1, tag);
        _exitLayer.Record(exitLayer, tag);
        _layerFraction.Record(layerFraction, tag);
        _denoisingSteps.Record(denoisingSteps, tag);
        _queueMs.Record(queueMs, tag);
        _computeMs.Record(computeMs, tag);
        _endToEndMs.Record(totalMs, tag);
        if (budgetMissed)
        {
            _budgetMisses.Add(1, tag);
        }

        if (forcedExit)
        {
            _forcedExits.Add(1, tag);
        }
    }

    public void OnRefused(string model, string robotId, RefusalReason reason) => _refusals.Add(1,
        new KeyValuePair<string, object?>("model", model),
        new KeyValuePair<string, object?>("reason", ReasonTag(reason)),
        new KeyValuePair<string, object?>("robot", RobotTag(robotId)));

    private static string ReasonTag(RefusalReason reason) => reason switch
    {
        RefusalReason.Deadline => "deadline",
        RefusalReason.ExpiredInQueue => "expired_in_queue",
        RefusalReason.QueueFull => "queue_full",
        RefusalReason.RobotShare => "robot_share",
        _ => "other",
    };

    private string RobotTag(string robotId)
    {
        lock (_gate)
        {
            return _taggedRobots.Contains(robotId) || (_taggedRobots.Count < MaxRobotTagValues && _taggedRobots.Add(robotId)) ? robotId : "other";
        }
    }

    /// <summary>Counted on the robot grain's silo, once per hedged request.</summary>
    public void OnHedged(string model, bool hedgeWon) => _hedges.Add(1,
        new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("winner", hedgeWon ? "hedge" : "first"));

    /// <param name="reason">"silo_unavailable" or "queue_full".</param>
    public void OnFailover(string model, string reason, int calls) => _failovers.Add(calls,
        new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("reason", reason));

    public void OnBatchLaunched(string model, int size) => _batchSize.Record(size, new KeyValuePair<string, object?>("model", model));

    public void OnError(string model, string kind) =>
        _errors.Add(1, new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("kind", kind));

    public void OnHold(string embodiment) => _holds.Add(1, new KeyValuePair<string, object?>("embodiment", embodiment));

    public void OnOperatorCommand(string command) => _operatorCommands.Add(1, new KeyValuePair<string, object?>("command", command));

    public void OnUnconfirmed(string command, int robots) => _unconfirmed.Add(robots, new KeyValuePair<string, object?>("command", command));

    public void OnThresholdsLive(string model, string version)
    {
        lock (_gate)
        {
            _liveThresholds[model] = (version, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        }
    }

    public void OnCalibrationProgress(string jobId, string model, int done, int total)
    {
        lock (_gate)
        {
            _calibrations[jobId] = (model, done, total, true);
        }
    }

    /// <summary>A finished job stays as its model's last one (so dashboards show how it ended) until the next job of that model.</summary>
    public void OnCalibrationFinished(string jobId)
    {
        lock (_gate)
        {
            if (_calibrations.TryGetValue(jobId, out var job))
            {
                foreach (var stale in _calibrations.Where(kv => kv.Key != jobId && !kv.Value.Running && kv.Value.Model == job.Model).Select(kv => kv.Key).ToList())
                {
                    _calibrations.Remove(stale);
                }

                _calibrations[jobId] = job with { Running = false };
            }
        }
    }

    private List<Measurement<long>> ObserveCalibrations(Func<(string Model, int Done, int Total, bool Running), long> value)
    {
        lock (_gate)
        {
            return _calibrations.Values.GroupBy(c => c.Model)
                .Select(g => new Measurement<long>(g.Sum(value), new KeyValuePair<string, object?>("model", g.Key))).ToList();
        }
    }

    private IEnumerable<Measurement<long>> ObserveThresholds()
    {
        lock (_gate)
        {
            return _liveThresholds.Select(kv => new Measurement<long>(kv.Value.Changed,
                new KeyValuePair<string, object?>("model", kv.Key), new KeyValuePair<string, object?>("version", kv.Value.Version))).ToList();
        }
    }
}
