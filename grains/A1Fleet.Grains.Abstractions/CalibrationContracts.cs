namespace A1Fleet.Grains;

/// <summary>What a calibration job sweeps and what it produces. The dataset directory must be readable by every GPU silo.</summary>
[GenerateSerializer, Immutable, Alias("a1.CalibrationJobSpec")]
public sealed record CalibrationJobSpec(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string DatasetDirectory,
    [property: Id(2)] string[] Families,
    [property: Id(3)] double[] Rs,
    [property: Id(4)] string? Metric,
    [property: Id(5)] string Decode,
    [property: Id(6)] int Shards,
    [property: Id(7)] double HoldoutShare,
    [property: Id(8)] bool SkipBadData,
    [property: Id(9)] string? MakeLive,
    [property: Id(10)] int BatchSize);

public enum CalibrationJobState
{
    Running = 0,
    Completed = 1,
    Failed = 2,
    Canceled = 3,
}

/// <summary>
/// A job's progress. <see cref="Coordinator"/> is the silo its coordinator runs on now (address@generation);
/// <see cref="ShardRetries"/> counts shard runs asked for again because a worker failed or its silo was
/// lost; <see cref="Resumes"/> counts the times the coordinator came back from persisted shards after
/// losing its activation (its silo died, or it was deactivated mid-job).
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.CalibrationJobStatus")]
public sealed record CalibrationJobStatus(
    [property: Id(0)] string JobId,
    [property: Id(1)] CalibrationJobState State,
    [property: Id(2)] int ShardsTotal,
    [property: Id(3)] int ShardsDone,
    [property: Id(4)] int ShardsRunning,
    [property: Id(5)] int SamplesDone,
    [property: Id(6)] int SamplesTotal,
    [property: Id(7)] double? EtaSeconds,
    [property: Id(8)] string? Error,
    [property: Id(9)] ThresholdVersionInfo[] Published,
    [property: Id(10)] DateTimeOffset StartedAt,
    [property: Id(11)] DateTimeOffset? FinishedAt,
    [property: Id(12)] string? Coordinator = null,
    [property: Id(13)] int ShardRetries = 0,
    [property: Id(14)] int Resumes = 0);

/// <summary>One shard's part of the values matrix: a column (one value per exit) per sample, in global-index order.</summary>
[GenerateSerializer, Immutable, Alias("a1.ShardValues")]
public sealed record ShardValues(
    [property: Id(0)] int ShardIndex,
    [property: Id(1)] int FirstSampleIndex,
    [property: Id(2)] double[][] Columns,
    [property: Id(3)] int Skipped);

/// <summary>
/// One finished shard's values, keyed "{jobId}/{shard}", persisted on its own: the job's state keeps only which shards
/// are done, so a shard finishing writes its own columns once instead of the job rewriting every shard's columns.
/// </summary>
[Alias("a1.ICalibrationShardResultGrain")]
public interface ICalibrationShardResultGrain : IGrainWithStringKey
{
    [Alias("Save")]
    Task Save(ShardValues values);

    /// <summary>The saved values, or null when none were saved (or they were cleared).</summary>
    [Alias("Load")]
    Task<ShardValues?> Load();

    /// <summary>Removes the values from storage once the job no longer needs them.</summary>
    [Alias("Clear")]
    Task Clear();
}

/// <summary>One calibration job, keyed by job id: splits the dataset into shards, has workers on GPU silos compute them, publishes the thresholds.</summary>
[Alias("a1.ICalibrationJobGrain")]
public interface ICalibrationJobGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task<CalibrationJobStatus> Start(CalibrationJobSpec spec);

    [Alias("GetStatus")]
    Task<CalibrationJobStatus?> GetStatus();

    [Alias("Cancel")]
    Task<CalibrationJobStatus?> Cancel();
}

/// <summary>GPU silos only: computes one shard of a job (key "{jobId}/{shard}/{attempt}").</summary>
[Alias("a1.ICalibrationWorkerGrain")]
public interface ICalibrationWorkerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Lasts as long as the shard's values pass (queued behind other work on the device), which can be
    /// far longer than Orleans' default 30 s response timeout: a timeout would only run the shard again
    /// while the first run goes on. A worker whose silo dies fails the call as soon as the cluster
    /// declares the silo dead, so the long timeout does not delay failover. 2 h is well above any
    /// shard we expect; split larger datasets into more shards.
    /// </summary>
    [Alias("RunShard")]
    [ResponseTimeout("02:00:00")]
    Task<ShardValues> RunShard(CalibrationJobSpec spec, int shardIndex, CancellationToken cancellationToken = default);
}
