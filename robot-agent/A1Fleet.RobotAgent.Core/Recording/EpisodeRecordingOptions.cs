using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Recording;

/// <summary>
/// Recording what the arms do as LeRobot datasets, to calibrate exit thresholds on (docs/calibration.md,
/// "Recording"). Section "A1Fleet:Recording"; off unless <see cref="Directory"/> is set (<c>--record DIR</c>).
/// </summary>
public sealed class EpisodeRecordingOptions
{
    public const string SectionName = "A1Fleet:Recording";

    /// <summary>
    /// Root folder; each (model, embodiment) pair records into its own dataset, <c>DIR/&lt;model&gt;-&lt;embodiment&gt;</c>,
    /// because a LeRobot dataset has one frame rate and one robot type. Existing datasets there are appended to.
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>An episode ends after this long (seconds, default 20) and the next starts with the next chunk.</summary>
    public double MaxEpisodeSeconds { get; set; } = 20;

    /// <summary>Episodes shorter than this many frames (a task changed at once, an early e-stop) are dropped (default 10).</summary>
    public int MinEpisodeFrames { get; set; } = 10;

    public bool Enabled => !string.IsNullOrWhiteSpace(Directory);
}

public sealed class EpisodeRecordingOptionsValidator : IValidateOptions<EpisodeRecordingOptions>
{
    public ValidateOptionsResult Validate(string? name, EpisodeRecordingOptions o)
    {
        const string S = EpisodeRecordingOptions.SectionName;
        var errors = new List<string>();
        if (!double.IsFinite(o.MaxEpisodeSeconds) || o.MaxEpisodeSeconds is < 0.1 or > 3600)
        {
            errors.Add($"{S}:MaxEpisodeSeconds {o.MaxEpisodeSeconds} must be within 0.1..3600 seconds.");
        }

        if (o.MinEpisodeFrames is < 1 or > 100_000)
        {
            errors.Add($"{S}:MinEpisodeFrames {o.MinEpisodeFrames} must be within 1..100000.");
        }

        if (o.Directory is { } directory && !string.IsNullOrWhiteSpace(directory) && File.Exists(directory))
        {
            errors.Add($"{S}:Directory '{directory}' is a file: give a folder to record into (--record recordings).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
