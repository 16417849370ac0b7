namespace A1Fleet.Datasets.LeRobot;

/// <summary>Column and feature names that LeRobot v2.x datasets use for every episode table.</summary>
public static class FeatureKeys
{
    public const string State = "observation.state";
    public const string Action = "action";
    public const string ImagePrefix = "observation.images.";
    public const string Timestamp = "timestamp";
    public const string FrameIndex = "frame_index";
    public const string EpisodeIndex = "episode_index";
    public const string Index = "index";
    public const string TaskIndex = "task_index";

    /// <summary>Feature dtypes for camera streams: "image" is stored in the parquet, "video" in an mp4 per episode.</summary>
    public const string ImageDtype = "image";
    public const string VideoDtype = "video";
}
