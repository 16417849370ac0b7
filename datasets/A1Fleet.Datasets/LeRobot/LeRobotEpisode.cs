using System.Text.Json.Serialization;

namespace A1Fleet.Datasets.LeRobot;

/// <summary>One line of <c>meta/episodes.jsonl</c>.</summary>
public sealed class LeRobotEpisode
{
    [JsonPropertyName("episode_index")]
    public int EpisodeIndex { get; set; }

    /// <summary>Task strings of the episode (LeRobot allows several; frames pick one through task_index).</summary>
    [JsonPropertyName("tasks")]
    public List<string> Tasks { get; set; } = [];

    /// <summary>Frame count: the number of rows of the episode's parquet file.</summary>
    [JsonPropertyName("length")]
    public int Length { get; set; }
}

/// <summary>One line of <c>meta/tasks.jsonl</c>.</summary>
public sealed class LeRobotTask
{
    [JsonPropertyName("task_index")]
    public int TaskIndex { get; set; }

    [JsonPropertyName("task")]
    public string Task { get; set; } = "";
}
