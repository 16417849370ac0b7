using A1Fleet.Calibration;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.Datasets.Sharding;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains.Inference;
using A1Fleet.Grains.Placement;

namespace A1Fleet.Grains.Calibration;

/// <summary>
/// Computes one shard of a calibration job on a GPU silo: reads the shard's episodes, runs the
/// engine's full-depth pass with the head at every exit (the runtime's own path, seeded by global
/// sample index) on the device thread, and returns its columns of the values matrix. Nothing is
/// persisted: a shard whose worker dies is simply asked for again and lands elsewhere.
/// </summary>
[GpuSiloPlacementFilter]
public sealed class CalibrationWorkerGrain(InferenceService inference) : Grain, ICalibrationWorkerGrain
{
    // The key names one attempt at one job's shard. A coordinator that resumed after losing its activation
    // asks the same keys again; a worker activation that outlived the old coordinator answers from this
    // (once its running pass ends: calls are not reentrant) instead of running the shard a second time.
    private ShardValues? _finished;

    public async Task<ShardValues> RunShard(CalibrationJobSpec spec, int shardIndex, CancellationToken cancellationToken = default)
    {
        if (_finished is { } finished && finished.ShardIndex == shardIndex)
        {
            return finished;
        }

        if (!inference.Catalog.TryGet(spec.ModelId, out var engine))
        {
            throw new InvalidOperationException($"model '{spec.ModelId}' is not served by this GPU silo");
        }

        var plan = await Task.Run(() => CalibrationPlan.Open(spec, engine.Manifest), cancellationToken);
        var shard = plan.Shards[shardIndex];
        var reader = new LeRobotDatasetReader(plan.Dataset, engine.Manifest, plan.Mapping,
            new DatasetReadOptions { BadData = spec.SkipBadData ? BadDataPolicy.Skip : BadDataPolicy.Fail });
        var read = await Task.Run(() => reader.ReadShardAsync(shard, cancellationToken), cancellationToken);
        var run = new CalibrationRun(plan.Settings);
        var columns = new List<double[]>(read.Samples.Count);

        // One batch per device work item, not the whole shard: robots' inference batches queue on the same
        // device thread and get their turn between two calibration batches instead of after the shard.
        // The batches are the ones a single pass over the shard would form, so the values are the same.
        foreach (var batch in DeviceBatches(read.Samples, plan.Settings.BatchSize))
        {
            var matrix = await inference.RunOnDeviceAsync((_, ct) => run.CollectValues(engine, batch, null, ct), cancellationToken);
            for (var i = 0; i < matrix.Samples; i++)
            {
                var column = new double[matrix.Exits];
                matrix.CopyColumn(i, column);
                columns.Add(column);
            }
        }

        _finished = new ShardValues(shardIndex, shard.FirstSampleIndex, [.. columns], read.Summary.SamplesSkipped);
        return _finished;
    }

    /// <summary>
    /// The shard's samples cut where the values pass would start a batch: every <paramref name="batchSize"/>
    /// samples of a run of consecutive global indices, and wherever skipped frames break a run.
    /// </summary>
    internal static IEnumerable<DatasetSample[]> DeviceBatches(IReadOnlyList<DatasetSample> samples, int batchSize)
    {
        var batch = new List<DatasetSample>(batchSize);
        foreach (var sample in samples)
        {
            if (batch.Count == batchSize || (batch.Count > 0 && sample.GlobalIndex != batch[^1].GlobalIndex + 1))
            {
                yield return [.. batch];
                batch.Clear();
            }

            batch.Add(sample);
        }

        if (batch.Count > 0)
        {
            yield return [.. batch];
        }
    }
}

/// <summary>How a job divides its dataset: the same on the coordinator and every worker, computed from the spec alone.</summary>
internal sealed record CalibrationPlan(LeRobotDataset Dataset, DatasetMapping Mapping, IReadOnlyList<DatasetShard> Shards, CalibrationSettings Settings, int CalibrationSamples)
{
    public static CalibrationPlan Open(CalibrationJobSpec spec, A1Fleet.ModelFormat.ModelManifest manifest)
    {
        var dataset = LeRobotDataset.Open(spec.DatasetDirectory);
        var mapping = DatasetMapping.Default(manifest, dataset.Info);
        var episodes = dataset.Episodes.Select(e => e.EpisodeIndex).Order().ToList();
        var calibrationEpisodes = episodes.Take((int)Math.Ceiling(episodes.Count * (1 - spec.HoldoutShare))).ToList();
        var shards = DatasetShards.Split(dataset, calibrationEpisodes, Math.Min(spec.Shards, calibrationEpisodes.Count));
        var settings = new CalibrationSettings
        {
            Families = [.. spec.Families.Select(ExitDistribution.ParseFamily)],
            Rs = spec.Rs,
            Metric = spec.Metric,
            Decode = DecodeSettings.Of(Decodings.Parse(spec.Decode)),
            HoldoutShare = spec.HoldoutShare,
            BatchSize = spec.BatchSize,
            Source = $"{spec.DatasetDirectory} episodes {string.Join(",", calibrationEpisodes)}",
        };
        return new CalibrationPlan(dataset, mapping, shards, settings, shards.Sum(s => s.SampleCount));
    }
}
