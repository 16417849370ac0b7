using System.Text.Json.Serialization;

namespace A1Fleet.Datasets.LeRobot;

/// <summary><c>meta/info.json</c> of a LeRobot v2.x dataset (snake_case on disk).</summary>
public sealed class LeRobotInfo
{
    public const string DefaultDataPath = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet";
    public const string DefaultVideoPath = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4";

    [JsonPropertyName("codebase_version")]
    public string CodebaseVersion { get; set; } = "";

    [JsonPropertyName("robot_type")]
    public string? RobotType { get; set; }

    [JsonPropertyName("total_episodes")]
    public int TotalEpisodes { get; set; }

    [JsonPropertyName("total_frames")]
    public int TotalFrames { get; set; }

    [JsonPropertyName("total_tasks")]
    public int TotalTasks { get; set; }

    [JsonPropertyName("total_videos")]
    public int TotalVideos { get; set; }

    [JsonPropertyName("total_chunks")]
    public int TotalChunks { get; set; }

    /// <summary>Episodes per data chunk folder: episode e lives in chunk e / chunks_size.</summary>
    [JsonPropertyName("chunks_size")]
    public int ChunksSize { get; set; } = 1000;

    /// <summary>Recording rate; frame f of an episode has timestamp f / fps.</summary>
    [JsonPropertyName("fps")]
    public double Fps { get; set; }

    [JsonPropertyName("splits")]
    public Dictionary<string, string> Splits { get; set; } = [];

    /// <summary>Python format template, e.g. <see cref="DefaultDataPath"/>.</summary>
    [JsonPropertyName("data_path")]
    public string DataPath { get; set; } = DefaultDataPath;

    [JsonPropertyName("video_path")]
    public string? VideoPath { get; set; }

    [JsonPropertyName("features")]
    public Dictionary<string, LeRobotFeature> Features { get; set; } = [];

    [JsonExtensionData]
    public Dictionary<string, object?>? Extra { get; set; }
}
