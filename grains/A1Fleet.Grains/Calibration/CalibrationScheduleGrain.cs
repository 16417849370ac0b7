using A1Fleet.Datasets.LeRobot;
using A1Fleet.Grains.Placement;
using Microsoft.Extensions.Logging;

namespace A1Fleet.Grains.Calibration;

[GenerateSerializer, Alias("a1.CalibrationScheduleState")]
public sealed class CalibrationScheduleState
{
    [Id(0)] public CalibrationSchedule? Schedule { get; set; }
    [Id(1)] public DateTimeOffset? NextRunAt { get; set; }
    [Id(2)] public List<ScheduledRun> History { get; set; } = [];
    [Id(3)] public string? LastJobId { get; set; }

    /// <summary>Model version and dataset contents the last started job calibrated on.</summary>
    [Id(4)] public string? LastFingerprint { get; set; }
}

/// <summary>
/// A model's recalibration schedule. An Orleans reminder (persisted with the grain storage's Redis in
/// production) wakes it every period on whichever GPU silo is alive; each tick starts a calibration job
/// from the stored spec unless the previous scheduled job is still running, or nothing changed since the
/// last one completed (same model version, same dataset episode and frame counts). Jobs are ordinary
/// calibration jobs: their progress, thresholds and live switch are the job grain's. It lives on a GPU silo
/// because that is where datasets are mounted.
/// </summary>
[GpuSiloPlacementFilter]
public sealed partial class CalibrationScheduleGrain(
    [PersistentState("calibration-schedule", FleetOptions.StorageName)] IPersistentState<CalibrationScheduleState> state,
    TimeProvider time,
    ILogger<CalibrationScheduleGrain> logger) : Grain, ICalibrationScheduleGrain, IRemindable
{
    public const string ReminderName = "recalibrate";

    /// <summary>Orleans' default minimum reminder period; a calibration sweep is never worth running more often.</summary>
    public static readonly TimeSpan MinimumPeriod = TimeSpan.FromMinutes(1);

    public static readonly TimeSpan MaximumPeriod = TimeSpan.FromDays(365);

    private const int HistoryKept = 20;

    private CalibrationScheduleState S => state.State;

    private string ModelId => this.GetPrimaryKeyString();

    public async Task<CalibrationScheduleStatus> Set(CalibrationSchedule schedule, TimeSpan? firstRunAfter)
    {
        var errors = CalibrationJobSpecRules.Problems(schedule.Job);
        if (schedule.Job.ModelId != ModelId)
        {
            errors.Add($"the job is for model '{schedule.Job.ModelId}' but this is the schedule of '{ModelId}'");
        }

        if (schedule.Every < MinimumPeriod || schedule.Every > MaximumPeriod)
        {
            errors.Add($"every {schedule.Every} must be within {MinimumPeriod}..{MaximumPeriod.TotalDays:F0} days");
        }

        if (firstRunAfter is { } first && (first < TimeSpan.Zero || first > MaximumPeriod))
        {
            errors.Add($"first run after {first} must be within 0..{MaximumPeriod.TotalDays:F0} days");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid calibration schedule: " + string.Join("; ", errors));
        }

        var due = firstRunAfter ?? schedule.Every;
        S.Schedule = schedule;
        S.NextRunAt = time.GetUtcNow() + due;

        // A new spec is a new question: the next tick runs even on unchanged data.
        S.LastFingerprint = null;
        await state.WriteStateAsync();
        await this.RegisterOrUpdateReminder(ReminderName, due, schedule.Every);
        LogScheduled(ModelId, schedule.Every, due);
        return Status();
    }

    public Task<CalibrationScheduleStatus> Get() => Task.FromResult(Status());

    public async Task<CalibrationScheduleStatus> Clear()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        if (S.Schedule is not null)
        {
            S.Schedule = null;
            S.NextRunAt = null;
            await state.WriteStateAsync();
            LogCleared(ModelId);
        }

        return Status();
    }

    public Task<ScheduledRun> RunNow() => S.Schedule is { } schedule
        ? RunAsync(schedule)
        : throw new InvalidOperationException($"model '{ModelId}' has no calibration schedule");

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ReminderName)
        {
            return;
        }

        if (S.Schedule is not { } schedule)
        {
            // Cleared while a tick was on its way, or the state was lost: nothing to keep waking up for.
            if (await this.GetReminder(ReminderName) is { } stale)
            {
                await this.UnregisterReminder(stale);
            }

            return;
        }

        S.NextRunAt = time.GetUtcNow() + schedule.Every;
        await RunAsync(schedule);
    }

    private async Task<ScheduledRun> RunAsync(CalibrationSchedule schedule)
    {
        var now = time.GetUtcNow();
        CalibrationJobStatus? last = null;
        if (S.LastJobId is { } lastJobId)
        {
            last = await GrainFactory.GetGrain<ICalibrationJobGrain>(lastJobId).GetStatus();
            if (last?.State == CalibrationJobState.Running)
            {
                return await RecordAsync(new ScheduledRun(now, ScheduledRunOutcome.SkippedStillRunning, lastJobId, $"job {lastJobId} is still running"));
            }
        }

        string fingerprint;
        try
        {
            fingerprint = await FingerprintAsync(schedule.Job);
        }
        catch (Exception ex) when (ex is DatasetFormatException or IOException or InvalidOperationException)
        {
            return await RecordAsync(new ScheduledRun(now, ScheduledRunOutcome.Refused, null, ex.Message));
        }

        if (schedule.OnlyWhenChanged && fingerprint == S.LastFingerprint && last?.State == CalibrationJobState.Completed)
        {
            return await RecordAsync(new ScheduledRun(now, ScheduledRunOutcome.SkippedUnchanged, S.LastJobId, $"model and dataset unchanged since job {S.LastJobId} ({fingerprint})"));
        }

        // The random part keeps two runs started within one second (a tick and an operator's run-now) two jobs.
        var jobId = $"{ModelId}.scheduled.{now:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}";
        try
        {
            var started = await GrainFactory.GetGrain<ICalibrationJobGrain>(jobId).Start(schedule.Job);
            S.LastJobId = jobId;
            S.LastFingerprint = fingerprint;
            LogStarted(ModelId, jobId, started.SamplesTotal);
            return await RecordAsync(new ScheduledRun(now, ScheduledRunOutcome.Started, jobId, $"{started.SamplesTotal} samples in {started.ShardsTotal} shards ({fingerprint})"));
        }
        catch (ArgumentException ex)
        {
            return await RecordAsync(new ScheduledRun(now, ScheduledRunOutcome.Refused, jobId, ex.Message));
        }
    }

    /// <summary>What a calibration depends on: the registered model version and the dataset's episodes and frames.</summary>
    private async Task<string> FingerprintAsync(CalibrationJobSpec job)
    {
        var spec = await GrainFactory.GetGrain<IModelGrain>(job.ModelId).GetSpec()
            ?? throw new InvalidOperationException($"model '{job.ModelId}' is not registered by any GPU silo");

        // Reading meta/ is file I/O: off the grain's scheduler.
        var dataset = await Task.Run(() => LeRobotDataset.Open(job.DatasetDirectory));
        var lastEpisode = dataset.Episodes.Count == 0 ? -1 : dataset.Episodes[^1].EpisodeIndex;
        return $"model {spec.ModelVersion}, {dataset.Episodes.Count} episodes (last {lastEpisode}), {dataset.TotalFrames} frames";
    }

    private async Task<ScheduledRun> RecordAsync(ScheduledRun run)
    {
        S.History.Add(run);
        if (S.History.Count > HistoryKept)
        {
            S.History.RemoveRange(0, S.History.Count - HistoryKept);
        }

        await state.WriteStateAsync();
        if (run.Outcome != ScheduledRunOutcome.Started)
        {
            LogSkipped(ModelId, run.Outcome, run.Detail);
        }

        return run;
    }

    private CalibrationScheduleStatus Status() => new(ModelId, S.Schedule, S.NextRunAt, [.. S.History]);

    [LoggerMessage(EventId = 610, Level = LogLevel.Information, Message = "Model {ModelId}: recalibration every {Every}, first in {Due}")]
    private partial void LogScheduled(string modelId, TimeSpan every, TimeSpan due);

    [LoggerMessage(EventId = 611, Level = LogLevel.Information, Message = "Model {ModelId}: recalibration schedule cleared")]
    private partial void LogCleared(string modelId);

    [LoggerMessage(EventId = 612, Level = LogLevel.Information, Message = "Model {ModelId}: scheduled calibration job {JobId} started on {Samples} samples")]
    private partial void LogStarted(string modelId, string jobId, int samples);

    [LoggerMessage(EventId = 613, Level = LogLevel.Information, Message = "Model {ModelId}: scheduled calibration {Outcome}: {Detail}")]
    private partial void LogSkipped(string modelId, ScheduledRunOutcome outcome, string detail);
}
