using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Calibration;

/// <summary>How calibration jobs survive the loss of their coordinator's silo. Section "A1Fleet:CalibrationJobs".</summary>
public sealed class CalibrationJobGrainOptions
{
    public const string SectionName = "A1Fleet:CalibrationJobs";

    /// <summary>
    /// Period of the reminder a running calibration job keeps: the longest a job whose coordinator's
    /// silo died waits (after the cluster declares the silo dead) before it resumes on a survivor by
    /// itself. 1 minute is Orleans' minimum reminder period; a shorter value lowers that minimum to
    /// match (Orleans then logs that fast reminders are unsuitable for production), which suits tests.
    /// </summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed class CalibrationJobGrainOptionsValidator : IValidateOptions<CalibrationJobGrainOptions>
{
    public ValidateOptionsResult Validate(string? name, CalibrationJobGrainOptions o) =>
        o.ReminderPeriod < TimeSpan.FromSeconds(1) || o.ReminderPeriod > TimeSpan.FromHours(1)
            ? ValidateOptionsResult.Fail($"{CalibrationJobGrainOptions.SectionName}:ReminderPeriod {o.ReminderPeriod} must be within 00:00:01..01:00:00 (default 00:01:00).")
            : ValidateOptionsResult.Success;
}
