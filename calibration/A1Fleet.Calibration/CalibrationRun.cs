using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Calibration;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Calibration;

/// <summary>
/// Offline threshold calibration from dataset samples (spec "Threshold calibration"): a full-depth
/// values pass with <see cref="ValuesCollector"/>, a <see cref="ThresholdSet"/> per (family, r),
/// then the engine run with each set on held-out episodes to measure the real compute reduction.
/// Each step is public on its own so a distributed calibration can run
/// <see cref="CollectValues"/> per shard, concatenate the matrices in shard order
/// (<see cref="ValuesMatrix.Concat"/>) and continue with <see cref="CalibrateSets"/>: every sample
/// is seeded from its global index, so the result equals a single-process run.
/// </summary>
public sealed class CalibrationRun
{
    private readonly TimeProvider _time;

    /// <exception cref="ArgumentException">Invalid settings; every problem listed.</exception>
    public CalibrationRun(CalibrationSettings settings, TimeProvider? timeProvider = null)
    {
        var errors = settings.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid calibration settings: " + string.Join("; ", errors), nameof(settings));
        }

        Settings = settings;
        _time = timeProvider ?? TimeProvider.System;
    }

    public CalibrationSettings Settings { get; }

    /// <summary>Splits the samples by episode, calibrates on the first part and evaluates on the held-out part.</summary>
    public CalibrationOutcome Run(A1Engine engine, IReadOnlyList<DatasetSample> samples, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var split = HoldoutSplit.ByEpisode(samples, Settings.HoldoutShare);
        var started = _time.GetTimestamp();
        var values = CollectValues(engine, split.Calibration, progress, cancellationToken);
        var elapsed = _time.GetElapsedTime(started);
        var sets = CalibrateSets(engine.Manifest, values);
        var heldOut = split.HeldOut.Count > 0 ? Evaluate(engine, split.HeldOut, sets, progress, cancellationToken) : [];
        return new CalibrationOutcome(values, split, MetricName(engine.Manifest), DecodeFor(engine.Manifest), sets, heldOut, elapsed);
    }

    /// <summary>
    /// The values matrix of <paramref name="samples"/> (ascending global index), one column per
    /// sample. Runs of consecutive global indices go to <see cref="ValuesCollector.Collect"/> with
    /// firstSampleIndex = the run's first global index, so each sample's noise seed depends on its
    /// global index only, whatever the shard or the skipped frames.
    /// </summary>
    /// <exception cref="InvalidDataException">The engine rejected a sample; the message names its global index, episode and frame.</exception>
    public ValuesMatrix CollectValues(A1Engine engine, IReadOnlyList<DatasetSample> samples, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (samples.Count == 0)
        {
            throw new ArgumentException("there are no calibration samples", nameof(samples));
        }

        for (var i = 1; i < samples.Count; i++)
        {
            if (samples[i].GlobalIndex <= samples[i - 1].GlobalIndex)
            {
                throw new ArgumentException($"samples must be in ascending global index order; sample {samples[i].GlobalIndex} follows {samples[i - 1].GlobalIndex}", nameof(samples));
            }
        }

        var decode = DecodeFor(engine.Manifest);
        var metric = DiscrepancyMetrics.Parse(MetricName(engine.Manifest));
        var started = _time.GetTimestamp();
        var matrices = new List<ValuesMatrix>();
        var done = 0;
        foreach (var run in ConsecutiveRuns(samples))
        {
            var offset = done;
            var reporter = progress is null ? null : new SynchronousProgress<int>(n =>
                progress.Report(new CalibrationProgress(CalibrationPhase.CollectValues, "values", offset + n, samples.Count, _time.GetElapsedTime(started))));
            try
            {
                matrices.Add(ValuesCollector.Collect(engine, [.. run.Select(s => s.Observation)], decode, metric, Settings.Seed,
                    firstSampleIndex: run[0].GlobalIndex, batchSize: Settings.BatchSize, progress: reporter, cancellationToken: cancellationToken));
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidDataException($"calibration failed on a sample among global indices {run[0].GlobalIndex}..{run[^1].GlobalIndex} " +
                    $"(episodes {run[0].Episode}..{run[^1].Episode}): {ex.Message}", ex);
            }

            done += run.Count;
        }

        return ValuesMatrix.Concat(matrices);
    }

    /// <summary>One threshold set per (family, r), in the order given, stamped with the current time.</summary>
    public IReadOnlyList<ThresholdSet> CalibrateSets(ModelManifest manifest, ValuesMatrix values)
    {
        var metric = MetricName(manifest);
        var createdAt = _time.GetUtcNow();
        var sets = new List<ThresholdSet>();
        foreach (var family in Settings.Families.Distinct())
        {
            foreach (var r in Settings.Rs.Distinct())
            {
                sets.Add(ThresholdSet.Calibrate(values, metric, family, r, manifest.Exits.Layers, manifest.LanguageModel.Layers, manifest.IsFlowMatching,
                    manifest.ModelId, manifest.ModelVersion, Settings.Source, createdAt, Settings.ForbidFirstExit));
            }
        }

        return sets;
    }

    /// <summary>Runs the engine with early exit under each set and measures layers run and exit shares.</summary>
    public IReadOnlyList<HeldOutEvaluation> Evaluate(A1Engine engine, IReadOnlyList<DatasetSample> heldOut, IReadOnlyList<ThresholdSet> sets, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (heldOut.Count == 0)
        {
            throw new ArgumentException("there are no held-out samples", nameof(heldOut));
        }

        var decode = DecodeFor(engine.Manifest);
        var metric = DiscrepancyMetrics.Parse(MetricName(engine.Manifest));
        var total = heldOut.Count * sets.Count;
        var started = _time.GetTimestamp();
        var evaluations = new List<HeldOutEvaluation>(sets.Count);
        var done = 0;
        foreach (var set in sets)
        {
            long layersRun = 0;
            var exitCounts = new double[engine.ExitLayers.Count];
            for (var start = 0; start < heldOut.Count; start += Settings.BatchSize)
            {
                var batch = heldOut.Skip(start).Take(Settings.BatchSize).ToList();
                var requests = batch.Select(s => new InferenceRequest
                {
                    Instruction = s.Observation.Instruction,
                    State = s.Observation.State,
                    Images = s.Observation.Images,
                    Decode = decode,
                    Thresholds = set,
                    Metric = metric,
                    Seed = ValuesCollector.SampleSeed(Settings.Seed, s.GlobalIndex),
                }).ToList();
                var results = engine.Run(requests, cancellationToken: cancellationToken);
                for (var i = 0; i < results.Length; i++)
                {
                    if (!results[i].Succeeded)
                    {
                        throw new InvalidDataException($"held-out sample {batch[i].GlobalIndex} (episode {batch[i].Episode}, frame {batch[i].Frame}) failed under {set.Name}: {results[i].Error}");
                    }

                    layersRun += results[i].LayersRun;
                    exitCounts[results[i].ExitIndex]++;
                }

                done += batch.Count;
                progress?.Report(new CalibrationProgress(CalibrationPhase.Evaluate, set.Name, done, total, _time.GetElapsedTime(started)));
            }

            evaluations.Add(new HeldOutEvaluation(set, heldOut.Count, (double)layersRun / heldOut.Count, engine.Layers,
                [.. exitCounts.Select(c => c / heldOut.Count)]));
        }

        return evaluations;
    }

    /// <summary>The metric name in force: the settings', else the model's default.</summary>
    public string MetricName(ModelManifest manifest) => DiscrepancyMetrics.Name(DiscrepancyMetrics.Parse(Settings.Metric ?? manifest.Defaults.Metric));

    /// <summary>The decoding in force: the settings', else the model's defaults with early exit.</summary>
    public DecodeSettings DecodeFor(ModelManifest manifest) =>
        Settings.Decode ?? new DecodeSettings(ExitMode.EarlyExit, manifest.Defaults.DenoisingSteps, manifest.Defaults.WarmStart);

    private static IEnumerable<List<DatasetSample>> ConsecutiveRuns(IReadOnlyList<DatasetSample> samples)
    {
        var run = new List<DatasetSample> { samples[0] };
        for (var i = 1; i < samples.Count; i++)
        {
            if (samples[i].GlobalIndex != samples[i - 1].GlobalIndex + 1)
            {
                yield return run;
                run = [];
            }

            run.Add(samples[i]);
        }

        yield return run;
    }

    /// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool and reorder).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
