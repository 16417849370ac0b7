using A1Fleet.Calibration;
using A1Fleet.EarlyExit;
using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace A1Fleet.Grains.Calibration;

[GenerateSerializer, Alias("a1.CalibrationJobGrainState")]
public sealed class CalibrationJobGrainState
{
    [Id(0)] public CalibrationJobSpec? Spec { get; set; }
    [Id(1)] public CalibrationJobState State { get; set; }
    [Id(2)] public int ShardsTotal { get; set; }
    [Id(3)] public int SamplesTotal { get; set; }
    [Id(4)] public Dictionary<int, ShardValues> Done { get; set; } = [];
    [Id(5)] public string? Error { get; set; }
    [Id(6)] public List<ThresholdVersionInfo> Published { get; set; } = [];
    [Id(7)] public DateTimeOffset StartedAt { get; set; }
    [Id(8)] public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>
/// Coordinates one calibration job. Every finished shard is persisted as it arrives, so a job whose
/// silo dies resumes on reactivation with only the missing shards; a worker that fails (its silo
/// died) is asked again and Orleans places it on a surviving GPU silo. When all shards are in, the
/// columns are joined in global order (the same matrix a single process computes), threshold sets
/// are calibrated and published to the model grain, which inference grains read between batches.
/// It lives on a GPU silo because it needs the model's manifest to plan the shards.
/// </summary>
[Reentrant]
[Placement.GpuSiloPlacementFilter]
#pragma warning disable CA1001 // _cancel is disposed on deactivation, the grain's end of life
public sealed partial class CalibrationJobGrain(
    [PersistentState("calibration", FleetOptions.StorageName)] IPersistentState<CalibrationJobGrainState> state,
    InferenceService inference,
    Diagnostics.FleetInstruments instruments,
    TimeProvider time,
    ILogger<CalibrationJobGrain> logger) : Grain, ICalibrationJobGrain
{
    private const int AttemptsPerShard = 3;
    private readonly HashSet<int> _running = [];
    private Task? _drive;
    private CancellationTokenSource? _cancel;

    private CalibrationJobGrainState S => state.State;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _cancel?.Dispose();
        return Task.CompletedTask;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Spec is not null && S.State == CalibrationJobState.Running)
        {
            // The previous coordinator died mid-job: carry on from the persisted shards.
            LogResumed(S.Done.Count, S.ShardsTotal);
            _drive = DriveAsync();
        }

        return Task.CompletedTask;
    }

    public async Task<CalibrationJobStatus> Start(CalibrationJobSpec spec)
    {
        if (S.Spec is not null)
        {
            return Status();
        }

        Validate(spec);
        var manifest = await GrainFactory.GetGrain<IModelGrain>(spec.ModelId).GetSpec()
            ?? throw new ArgumentException($"model '{spec.ModelId}' is not served by any GPU silo");
        var plan = await Task.Run(() => CalibrationPlan.Open(spec, ManifestOf(spec.ModelId, manifest)));
        S.Spec = spec;
        S.State = CalibrationJobState.Running;
        S.ShardsTotal = plan.Shards.Count;
        S.SamplesTotal = plan.CalibrationSamples;
        S.StartedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        _drive = DriveAsync();
        return Status();
    }

    public Task<CalibrationJobStatus?> GetStatus() => Task.FromResult(S.Spec is null ? null : Status());

    public async Task<CalibrationJobStatus?> Cancel()
    {
        if (S.Spec is null)
        {
            return null;
        }

        if (S.State == CalibrationJobState.Running)
        {
            S.State = CalibrationJobState.Canceled;
            S.FinishedAt = time.GetUtcNow();
            await state.WriteStateAsync();
            _cancel?.Cancel();
        }

        return Status();
    }

    private async Task DriveAsync()
    {
        _cancel = new CancellationTokenSource();
        var spec = S.Spec!;
        var jobId = this.GetPrimaryKeyString();
        ReportProgress();
        try
        {
            var missing = Enumerable.Range(0, S.ShardsTotal).Where(i => !S.Done.ContainsKey(i)).ToList();
            await Task.WhenAll(missing.Select(i => RunShardAsync(spec, i, _cancel.Token)));
            if (S.State != CalibrationJobState.Running)
            {
                return;
            }

            await PublishAsync(spec);
        }
        catch (Exception ex) when (S.State == CalibrationJobState.Running)
        {
            S.State = CalibrationJobState.Failed;
            S.Error = ex.GetBaseException().Message;
            S.FinishedAt = time.GetUtcNow();
            await state.WriteStateAsync();
            LogFailed(ex, this.GetPrimaryKeyString());
        }
        finally
        {
            instruments.OnCalibrationFinished(jobId);
        }
    }

    private void ReportProgress() =>
        instruments.OnCalibrationProgress(this.GetPrimaryKeyString(), S.Spec!.ModelId, S.Done.Values.Sum(v => v.Columns.Length + v.Skipped), S.SamplesTotal);

    private async Task RunShardAsync(CalibrationJobSpec spec, int shard, CancellationToken ct)
    {
        _running.Add(shard);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    // A fresh key per attempt: the retry must not wait on a worker activation that is stuck with a dead silo.
                    var worker = GrainFactory.GetGrain<ICalibrationWorkerGrain>($"{this.GetPrimaryKeyString()}/{shard}/{attempt}");
                    var values = await worker.RunShard(spec, shard, ct);
                    if (S.State != CalibrationJobState.Running)
                    {
                        return;
                    }

                    S.Done[shard] = values;
                    await state.WriteStateAsync(CancellationToken.None);
                    ReportProgress();
                    return;
                }
                catch (Exception ex) when (attempt < AttemptsPerShard && !ct.IsCancellationRequested && ex is not ArgumentException)
                {
                    LogShardRetried(ex, this.GetPrimaryKeyString(), shard, attempt);
                }
            }
        }
        finally
        {
            _running.Remove(shard);
        }
    }

    private async Task PublishAsync(CalibrationJobSpec spec)
    {
        var columns = S.Done.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value.Columns).ToList();
        var values = ValuesMatrix.FromColumns(columns);
        var model = GrainFactory.GetGrain<IModelGrain>(spec.ModelId);
        var modelSpec = await model.GetSpec() ?? throw new InvalidOperationException($"model '{spec.ModelId}' is no longer registered");
        var plan = await Task.Run(() => CalibrationPlan.Open(spec, ManifestOf(spec.ModelId, modelSpec)));
        var sets = new CalibrationRun(plan.Settings, time).CalibrateSets(ManifestOf(spec.ModelId, modelSpec), values);
        foreach (var set in sets)
        {
            var versioned = set with { Version = set.ComputeContentVersion() };
            var info = await model.Publish(new ThresholdDocument(versioned.Version, versioned.Name, versioned.ToJson(), time.GetUtcNow()), versioned.Name == spec.MakeLive);
            S.Published.Add(info);
        }

        S.State = CalibrationJobState.Completed;
        S.FinishedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        LogCompleted(values.Samples, sets.Count);
    }

    /// <summary>The manifest of a model this silo serves, or one rebuilt from the registered spec for the dims the plan needs.</summary>
    private A1Fleet.ModelFormat.ModelManifest ManifestOf(string modelId, ModelSpec spec) =>
        inference.Catalog.TryGet(modelId, out var engine)
            ? engine.Manifest
            : throw new InvalidOperationException($"the calibration coordinator for '{modelId}' must run on a silo that serves the model (spec version {spec.ModelVersion})");

    private static void Validate(CalibrationJobSpec spec)
    {
        var errors = new List<string>();
        if (!Directory.Exists(spec.DatasetDirectory))
        {
            errors.Add($"dataset directory '{spec.DatasetDirectory}' does not exist");
        }

        if (spec.Shards is < 1 or > 1024)
        {
            errors.Add($"shards {spec.Shards} must be within 1..1024");
        }

        if (spec.Families.Length == 0 || spec.Rs.Length == 0)
        {
            errors.Add("give at least one family and one r");
        }

        foreach (var family in spec.Families)
        {
            if (!ExitDistribution.TryParseFamily(family, out _))
            {
                errors.Add($"family '{family}' is unknown (exp, gauss, gamma)");
            }
        }

        if (!A1Fleet.Engine.Inference.DecodeSettings.Named.ContainsKey(spec.Decode))
        {
            errors.Add($"decode '{spec.Decode}' is unknown");
        }

        if (spec.HoldoutShare is < 0 or >= 1)
        {
            errors.Add($"holdout share {spec.HoldoutShare} must be within [0, 1)");
        }

        if (spec.BatchSize is < 1 or > 256)
        {
            errors.Add($"batch size {spec.BatchSize} must be within 1..256");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid calibration job: " + string.Join("; ", errors));
        }
    }

    private CalibrationJobStatus Status()
    {
        var samplesDone = S.Done.Values.Sum(v => v.Columns.Length + v.Skipped);
        double? eta = null;
        if (S.State == CalibrationJobState.Running && samplesDone > 0)
        {
            var elapsed = (time.GetUtcNow() - S.StartedAt).TotalSeconds;
            eta = elapsed / samplesDone * Math.Max(0, S.SamplesTotal - samplesDone);
        }

        return new CalibrationJobStatus(this.GetPrimaryKeyString(), S.State, S.ShardsTotal, S.Done.Count, _running.Count, samplesDone, S.SamplesTotal, eta,
            S.Error, [.. S.Published], S.StartedAt, S.FinishedAt);
    }

#pragma warning restore CA1001

    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "Calibration job resumed with {Done}/{Total} shards done")]
    private partial void LogResumed(int done, int total);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Calibration job {JobId}: shard {Shard} failed on attempt {Attempt}; retrying")]
    private partial void LogShardRetried(Exception exception, string jobId, int shard, int attempt);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "Calibration job {JobId} failed")]
    private partial void LogFailed(Exception exception, string jobId);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "Calibration job completed: {Samples} samples, {Sets} threshold sets published")]
    private partial void LogCompleted(int samples, int sets);
}
