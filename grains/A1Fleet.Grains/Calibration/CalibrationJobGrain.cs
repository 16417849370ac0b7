using A1Fleet.Calibration;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.EarlyExit;
using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace A1Fleet.Grains.Calibration;

[GenerateSerializer, Alias("a1.CalibrationJobGrainState")]
public sealed class CalibrationJobGrainState
{
    [Id(0)] public CalibrationJobSpec? Spec { get; set; }
    [Id(1)] public CalibrationJobState State { get; set; }
    [Id(2)] public int ShardsTotal { get; set; }
    [Id(3)] public int SamplesTotal { get; set; }
    // Id 4 held every finished shard's columns until they moved to ICalibrationShardResultGrain (a job persisted
    // by a version before that runs its shards again after the upgrade).

    /// <summary>Finished shards: their sample and skip counts; the columns are in each shard's result grain.</summary>
    [Id(11)] public Dictionary<int, ShardSummary> Done { get; set; } = [];
    [Id(5)] public string? Error { get; set; }
    [Id(6)] public List<ThresholdVersionInfo> Published { get; set; } = [];
    [Id(7)] public DateTimeOffset StartedAt { get; set; }
    [Id(8)] public DateTimeOffset? FinishedAt { get; set; }
    [Id(9)] public int ShardRetries { get; set; }
    [Id(10)] public int Resumes { get; set; }
}

/// <summary>What the job keeps of a finished shard: how many samples it computed and skipped.</summary>
[GenerateSerializer, Immutable, Alias("a1.CalibrationShardSummary")]
public sealed record ShardSummary([property: Id(0)] int Samples, [property: Id(1)] int Skipped);

/// <summary>
/// Coordinates one calibration job. Every finished shard is persisted as it arrives (its columns in its own result grain, its counts here), so a job whose
/// silo dies resumes on reactivation with only the missing shards; a worker that fails (its silo
/// died) is asked again and Orleans places it on a surviving GPU silo. While the job runs it keeps a
/// reminder: a tick reactivates the grain on a live silo, so a job whose coordinator died resumes by
/// itself instead of waiting for someone to ask for its status. When all shards are in, the columns
/// are joined in global order (the same matrix a single process computes), threshold sets are
/// calibrated and published to the model grain, which inference grains read between batches.
/// It lives on a GPU silo because it needs the model's manifest to plan the shards.
/// </summary>
[Reentrant]
[Placement.GpuSiloPlacementFilter]
#pragma warning disable CA1001 // _cancel, _stop and _writes are disposed on deactivation, the grain's end of life
public sealed partial class CalibrationJobGrain(
    [PersistentState("calibration", FleetOptions.StorageName)] IPersistentState<CalibrationJobGrainState> state,
    InferenceService inference,
    Diagnostics.FleetInstruments instruments,
    IOptions<CalibrationJobGrainOptions> options,
    ILocalSiloDetails silo,
    IClusterMembershipService membership,
    ISiloMetadataCache siloMetadata,
    TimeProvider time,
    ILogger<CalibrationJobGrain> logger) : Grain, ICalibrationJobGrain, IRemindable
{
    internal const string ResumeReminder = "calibration-resume";

    /// <summary>Failures raised by the worker itself (bad data, a missing model): they would most likely repeat.</summary>
    private const int AttemptsPerShard = 3;

    /// <summary>
    /// Workers lost with their silo or never reached. A call placed on a silo that has died but is not
    /// yet declared dead fails at once, and so would an immediate retry; waiting 0.5 s, doubling to
    /// 8 s, over 10 attempts (about 50 s in all) outlasts failure detection by far.
    /// </summary>
    private const int LossesPerShard = 10;

    private readonly HashSet<int> _running = [];
    // _cancel: the job is cancelled, so the workers stop too. _stop: this activation is going away, so
    // it stops waiting while the workers finish and keep their results for the next activation.
    private readonly CancellationTokenSource _cancel = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _writes = new(1, 1);
    private Task? _start;
    private Task? _drive;
    private bool _deactivating;

    private CalibrationJobGrainState S => state.State;

    private string JobId => this.GetPrimaryKeyString();

    private TimeSpan ReminderPeriod => options.Value.ReminderPeriod;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Spec is not null && S.State == CalibrationJobState.Running)
        {
            // The previous activation ended mid-job (its silo died, or it was deactivated): carry on
            // from the persisted shards. The count is persisted with the next shard.
            S.Resumes++;
            LogResumed(JobId, S.Done.Count, S.ShardsTotal, S.Resumes);
            KeepAlive();
            _drive = DriveAsync();
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_drive is { IsCompleted: false } drive)
        {
            // Going away mid-job (a silo shutting down, memory pressure, or its grain directory entry lost
            // with another silo): stop waiting and leave the job Running; its reminder resumes it from the
            // persisted shards on a new activation, and the workers' results wait there under the same keys.
            _deactivating = true;
            LogSuspended(JobId, reason.Description);
            await _stop.CancelAsync();
            try
            {
                await drive.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        _cancel.Dispose();
        _stop.Dispose();
        _writes.Dispose();
    }

    public async Task<CalibrationJobStatus> Start(CalibrationJobSpec spec)
    {
        if (_start is null || _start.IsFaulted)
        {
            if (S.Spec is not null)
            {
                return Status();
            }

            // Reentrant grain: a second Start of the same job id (a retried request) awaits this one
            // instead of starting the job twice.
            _start = StartAsync(spec);
        }

        await _start;
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
            await PersistAsync();
            await _cancel.CancelAsync();
            await StopReminderAsync();
            await ClearShardResultsAsync();
        }

        return Status();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder || _start is { IsCompleted: false })
        {
            return;
        }

        if (S.Spec is null || S.State != CalibrationJobState.Running)
        {
            // Left over from a job that ended (or never started) while the reminder could not be removed.
            await StopReminderAsync();
            return;
        }

        // The tick itself did the work: it activated the job on a live silo, and OnActivateAsync resumed it.
        KeepAlive();
        if (_drive is null || _drive.IsCompleted)
        {
            _drive = DriveAsync();
        }
    }

    private async Task StartAsync(CalibrationJobSpec spec)
    {
        CalibrationPlan plan;
        try
        {
            Validate(spec);
            var manifest = await GrainFactory.GetGrain<IModelGrain>(spec.ModelId).GetSpec()
                ?? throw new ArgumentException($"model '{spec.ModelId}' is not served by any GPU silo");
            plan = await Task.Run(() => CalibrationPlan.Open(spec, ManifestOf(spec.ModelId, manifest)));
        }
        catch (Exception ex) when (ex is ArgumentException or DatasetFormatException or MappingException or IOException or UnauthorizedAccessException
                                       or NotSupportedException or InvalidOperationException)
        {
            // The caller is told why in one type it knows; the dataset library's own types stay on this side.
            throw new CalibrationJobRejectedException(ex is IOException or UnauthorizedAccessException
                ? $"dataset '{spec.DatasetDirectory}' cannot be read by the GPU silos: {ex.Message}"
                : ex.Message);
        }

        // Registered before the job is persisted as running, so a running job always has a reminder; a
        // reminder whose job never got persisted removes itself on its first tick.
        await this.RegisterOrUpdateReminder(ResumeReminder, ReminderPeriod, ReminderPeriod);
        S.Spec = spec;
        S.State = CalibrationJobState.Running;
        S.ShardsTotal = plan.Shards.Count;
        S.SamplesTotal = plan.CalibrationSamples;
        S.StartedAt = time.GetUtcNow();
        await PersistAsync();
        KeepAlive();
        _drive = DriveAsync();
    }

    private async Task DriveAsync()
    {
        var spec = S.Spec!;
        ReportProgress();
        try
        {
            var missing = Enumerable.Range(0, S.ShardsTotal).Where(i => !S.Done.ContainsKey(i)).ToList();
            await Task.WhenAll(missing.Select(i => RunShardAsync(spec, i, _cancel.Token)));
            if (S.State == CalibrationJobState.Running)
            {
                await PublishAsync(spec);
            }
        }
        catch (Exception) when (_deactivating || S.State != CalibrationJobState.Running)
        {
            // Either this activation stopped waiting for its shards (the job stays Running for the
            // reminder), or the job was cancelled and its shards' calls with it.
        }
        catch (Exception ex)
        {
            S.State = CalibrationJobState.Failed;
            S.Error = ex.GetBaseException().Message;
            S.FinishedAt = time.GetUtcNow();
            await PersistAsync();
            LogFailed(ex, JobId);
            await ClearShardResultsAsync();
        }
        finally
        {
            instruments.OnCalibrationFinished(JobId);
        }

        if (S.State != CalibrationJobState.Running)
        {
            await StopReminderAsync();
        }
    }

    private void ReportProgress() =>
        instruments.OnCalibrationProgress(JobId, S.Spec!.ModelId, S.Done.Values.Sum(v => v.Samples + v.Skipped), S.SamplesTotal);

    private async Task RunShardAsync(CalibrationJobSpec spec, int shard, CancellationToken ct)
    {
        _running.Add(shard);
        try
        {
            var values = await ComputeShardAsync(spec, shard, ct);
            if (S.State != CalibrationJobState.Running)
            {
                return;
            }

            // Keyed by shard: a shard computed twice (a retry racing a slow first run) counts once. The columns are
            // written first, so a shard the job counts as done always has them.
            await ThroughSiloLossAsync(() => ShardResult(shard).Save(values), ct);
            S.Done[shard] = new ShardSummary(values.Columns.Length, values.Skipped);
            await PersistAsync();
            ReportProgress();
        }
        finally
        {
            _running.Remove(shard);
        }
    }

    private async Task<ShardValues> ComputeShardAsync(CalibrationJobSpec spec, int shard, CancellationToken ct)
    {
        var failures = 0;
        var losses = 0;
        for (var attempt = 1; ; attempt++)
        {
            // A fresh key per attempt: the retry goes to another silo, and never queues behind an activation
            // stuck with a dead silo. After a resume the keys start again at 1, so a worker of the previous
            // coordinator that is still alive answers from its finished result instead of recomputing.
            var worker = GrainFactory.GetGrain<ICalibrationWorkerGrain>($"{JobId}/{shard}/{attempt}");
            Task<ShardValues> call;
            if (GpuSiloFor(shard, attempt) is { } target)
            {
                RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
            }

            try
            {
                call = worker.RunShard(spec, shard, ct);
            }
            finally
            {
                RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            }

            try
            {
                return await call.WaitAsync(_stop.Token);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && !_stop.IsCancellationRequested && ex is not ArgumentException)
            {
                var lost = IsWorkerLost(ex);
                if (lost ? ++losses >= LossesPerShard : ++failures >= AttemptsPerShard)
                {
                    throw;
                }

                S.ShardRetries++;
                var delay = lost ? TimeSpan.FromSeconds(Math.Min(8, 0.5 * Math.Pow(2, losses - 1))) : TimeSpan.Zero;
                LogShardRetried(ex, JobId, shard, attempt, lost, delay.TotalSeconds);
                await Task.Delay(delay, time, _stop.Token);
            }
        }
    }

    /// <summary>
    /// Where a shard's worker is placed: round robin over the GPU silos that are active now, the next one
    /// on each retry. Left to Orleans' resource-optimised placement, whose load statistics lag a burst of
    /// activations, 12 shards landed 9 and 3 (then 8 and 4) on the two silos of the failover test, and
    /// the job took as long as the larger share. Null (no hint) when no GPU silo is known: placement then
    /// fails with its own error.
    /// </summary>
    private SiloAddress? GpuSiloFor(int shard, int attempt)
    {
        var gpus = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && Placement.GpuSiloPlacementFilterDirector.IsGpuSilo(siloMetadata, m.SiloAddress))
            .Select(m => m.SiloAddress)
            .OrderBy(a => a.ToParsableString(), StringComparer.Ordinal)
            .ToList();
        return gpus.Count == 0 ? null : gpus[(shard + attempt - 1) % gpus.Count];
    }

    /// <summary>
    /// The runtime failed the call, not the worker's code: its silo died or was unreachable, the call
    /// timed out, or no GPU silo could take it. The worker's own exceptions arrive with their own types.
    /// </summary>
    private static bool IsWorkerLost(Exception ex) => ex is OrleansException or TimeoutException;

    /// <summary>
    /// Writes one at a time: the grain is reentrant and shards finish concurrently, and two overlapping
    /// writes would carry the same ETag, so the second would be refused as inconsistent.
    /// </summary>
    private async Task PersistAsync()
    {
        await _writes.WaitAsync();
        try
        {
            await state.WriteStateAsync(CancellationToken.None);
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>
    /// Ticks already keep the activation busy, but a period longer than the idle collection age would let
    /// Orleans collect a running job between ticks, to be resumed by the next one: hold it for two periods.
    /// </summary>
    private void KeepAlive() => DelayDeactivation(ReminderPeriod * 2);

    private async Task StopReminderAsync()
    {
        try
        {
            if (await this.GetReminder(ResumeReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception ex) when (ex is ReminderException or OrleansException)
        {
            // Harmless: the next tick finds the job ended and tries again.
            LogReminderNotStopped(ex, JobId);
        }
    }

    private async Task PublishAsync(CalibrationJobSpec spec)
    {
        var shards = await Task.WhenAll(S.Done.Keys.Order().Select(async i => await ThroughSiloLossAsync(() => ShardResult(i).Load(), _stop.Token)
            ?? throw new InvalidOperationException($"calibration job '{JobId}': the values of finished shard {i} are missing from storage")));
        var columns = shards.SelectMany(v => v.Columns).ToList();
        var values = ValuesMatrix.FromColumns(columns);
        var model = GrainFactory.GetGrain<IModelGrain>(spec.ModelId);
        var modelSpec = await model.GetSpec() ?? throw new InvalidOperationException($"model '{spec.ModelId}' is no longer registered");
        var plan = await Task.Run(() => CalibrationPlan.Open(spec, ManifestOf(spec.ModelId, modelSpec)));
        var sets = new CalibrationRun(plan.Settings, time).CalibrateSets(ManifestOf(spec.ModelId, modelSpec), values);
        var published = new List<ThresholdVersionInfo>();
        foreach (var set in sets)
        {
            // Content versions make publishing idempotent: a coordinator that died mid-publish publishes the same versions again.
            var versioned = set with { Version = set.ComputeContentVersion() };
            published.Add(await model.Publish(new ThresholdDocument(versioned.Version, versioned.Name, versioned.ToJson(), time.GetUtcNow()), versioned.Name == spec.MakeLive));
        }

        S.Published = published;
        S.State = CalibrationJobState.Completed;
        S.FinishedAt = time.GetUtcNow();
        await PersistAsync();
        await ClearShardResultsAsync();
        LogCompleted(values.Samples, sets.Count);
    }

    /// <summary>
    /// A call to a shard's result grain, asked again while its silo is lost (the runtime fails the call, not the grain):
    /// the next attempt activates it on a survivor, which reads the same storage. Backs off as lost workers do.
    /// </summary>
    private async Task ThroughSiloLossAsync(Func<Task> call, CancellationToken ct) =>
        await ThroughSiloLossAsync(async () => { await call(); return true; }, ct);

    private async Task<T> ThroughSiloLossAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        for (var losses = 1; ; losses++)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (IsWorkerLost(ex) && losses < LossesPerShard && !ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(8, 0.5 * Math.Pow(2, losses - 1))), time, ct);
            }
        }
    }

    private ICalibrationShardResultGrain ShardResult(int shard) => GrainFactory.GetGrain<ICalibrationShardResultGrain>($"{JobId}/{shard}");

    /// <summary>Once the job has ended, its shards' columns are of no more use: they leave storage.</summary>
    private async Task ClearShardResultsAsync()
    {
        try
        {
            await Task.WhenAll(S.Done.Keys.Select(i => ShardResult(i).Clear()));
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            // Left in storage, harmless: the job's state says it has ended and nothing reads them again.
            LogShardResultsNotCleared(ex, JobId);
        }
    }

    /// <summary>The manifest of a model this silo serves, or one rebuilt from the registered spec for the dims the plan needs.</summary>
    private A1Fleet.ModelFormat.ModelManifest ManifestOf(string modelId, ModelSpec spec) =>
        inference.Catalog.TryGet(modelId, out var engine)
            ? engine.Manifest
            : throw new InvalidOperationException($"the calibration coordinator for '{modelId}' must run on a silo that serves the model (spec version {spec.ModelVersion})");

    private static void Validate(CalibrationJobSpec spec)
    {
        if (CalibrationJobSpecRules.Problems(spec) is { Count: > 0 } errors)
        {
            throw new ArgumentException("invalid calibration job: " + string.Join("; ", errors));
        }
    }

    private CalibrationJobStatus Status()
    {
        var samplesDone = S.Done.Values.Sum(v => v.Samples + v.Skipped);
        double? eta = null;
        if (S.State == CalibrationJobState.Running && samplesDone > 0)
        {
            var elapsed = (time.GetUtcNow() - S.StartedAt).TotalSeconds;
            eta = elapsed / samplesDone * Math.Max(0, S.SamplesTotal - samplesDone);
        }

        return new CalibrationJobStatus(JobId, S.State, S.ShardsTotal, S.Done.Count, _running.Count, samplesDone, S.SamplesTotal, eta,
            S.Error, [.. S.Published], S.StartedAt, S.FinishedAt, silo.SiloAddress.ToParsableString(), S.ShardRetries, S.Resumes);
    }

#pragma warning restore CA1001

    [LoggerMessage(EventId = 614, Level = LogLevel.Debug, Message = "Calibration job {JobId}: shard results not cleared from storage")]
    private partial void LogShardResultsNotCleared(Exception exception, string jobId);

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Calibration job {JobId} resumed with {Done}/{Total} shards done (resume {Resumes})")]
    private partial void LogResumed(string jobId, int done, int total, int resumes);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Calibration job {JobId}: shard {Shard} failed on attempt {Attempt} (worker lost: {Lost}); retrying in {DelaySeconds} s")]
    private partial void LogShardRetried(Exception exception, string jobId, int shard, int attempt, bool lost, double delaySeconds);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "Calibration job {JobId} failed")]
    private partial void LogFailed(Exception exception, string jobId);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "Calibration job completed: {Samples} samples, {Sets} threshold sets published")]
    private partial void LogCompleted(int samples, int sets);

    [LoggerMessage(EventId = 604, Level = LogLevel.Warning, Message = "Calibration job {JobId} deactivated mid-job ({Reason}); its reminder resumes it")]
    private partial void LogSuspended(string jobId, string reason);

    [LoggerMessage(EventId = 605, Level = LogLevel.Warning, Message = "Calibration job {JobId}: its reminder could not be removed; the next tick tries again")]
    private partial void LogReminderNotStopped(Exception exception, string jobId);
}
