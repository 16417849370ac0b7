namespace A1Fleet.Grains;

/// <summary>
/// Recalibrate a model on a reminder: every <see cref="Every"/>, start a calibration job from <see cref="Job"/>
/// (its model id is the schedule's key). With <see cref="OnlyWhenChanged"/> a tick whose dataset and model are
/// what the last completed scheduled job calibrated on does nothing, so a schedule over a dataset the arms
/// keep recording into recalibrates exactly when there is new data.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.CalibrationSchedule")]
public sealed record CalibrationSchedule(
    [property: Id(0)] CalibrationJobSpec Job,
    [property: Id(1)] TimeSpan Every,
    [property: Id(2)] bool OnlyWhenChanged);

/// <summary>What a scheduled tick did.</summary>
public enum ScheduledRunOutcome
{
    Started = 0,
    SkippedUnchanged = 1,
    SkippedStillRunning = 2,
    Refused = 3,
}

[GenerateSerializer, Immutable, Alias("a1.ScheduledRun")]
public sealed record ScheduledRun(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] ScheduledRunOutcome Outcome,
    [property: Id(2)] string? JobId,
    [property: Id(3)] string Detail);

/// <summary>A model's schedule (null when none), when it next fires, and its recent ticks, newest last.</summary>
[GenerateSerializer, Immutable, Alias("a1.CalibrationScheduleStatus")]
public sealed record CalibrationScheduleStatus(
    [property: Id(0)] string ModelId,
    [property: Id(1)] CalibrationSchedule? Schedule,
    [property: Id(2)] DateTimeOffset? NextRunAt,
    [property: Id(3)] ScheduledRun[] History);

/// <summary>A model's recalibration schedule, keyed by model id; an Orleans reminder (Redis in production) drives it.</summary>
[Alias("a1.ICalibrationScheduleGrain")]
public interface ICalibrationScheduleGrain : IGrainWithStringKey
{
    /// <summary>Sets (or replaces) the schedule; the first run is after <paramref name="firstRunAfter"/> (null: one period).</summary>
    /// <exception cref="ArgumentException">The schedule is invalid; every problem is named.</exception>
    [Alias("Set")]
    Task<CalibrationScheduleStatus> Set(CalibrationSchedule schedule, TimeSpan? firstRunAfter);

    [Alias("Get")]
    Task<CalibrationScheduleStatus> Get();

    /// <summary>Removes the schedule and its reminder; jobs it started run on.</summary>
    [Alias("Clear")]
    Task<CalibrationScheduleStatus> Clear();

    /// <summary>Does now what the next tick would do (start, or skip and say why).</summary>
    [Alias("RunNow")]
    Task<ScheduledRun> RunNow();
}
