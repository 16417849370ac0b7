namespace A1Fleet.Datasets.Reading;

/// <summary>What the reader does with a frame or episode it cannot use.</summary>
public enum BadDataPolicy
{
    /// <summary>Stop at the first problem with a <see cref="BadDataException"/> naming the episode and frame.</summary>
    Fail,

    /// <summary>Leave the frame (or the whole episode, for file-level problems) out and record why in the summary.</summary>
    Skip,
}

public sealed class DatasetReadOptions
{
    public BadDataPolicy BadData { get; init; } = BadDataPolicy.Fail;

    /// <summary>ffmpeg executable for "video" features: a name looked up on PATH, or a path.</summary>
    public string FfmpegExecutable { get; init; } = "ffmpeg";
}
