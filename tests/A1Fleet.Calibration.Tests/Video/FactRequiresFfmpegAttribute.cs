using A1Fleet.Datasets.Video;

namespace A1Fleet.Calibration.Tests.Video;

/// <summary>A fact that is reported as skipped, with the reason, where ffmpeg is not installed (it is a Debian package, not a NuGet one).</summary>
public sealed class FactRequiresFfmpegAttribute : FactAttribute
{
    private static readonly bool Available = new FfmpegVideoDecoder().IsAvailable();

    public FactRequiresFfmpegAttribute()
    {
        if (!Available)
        {
            Skip = "ffmpeg is not on PATH (apt-get install ffmpeg)";
        }
    }
}
