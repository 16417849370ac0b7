using System.Text.Json;

namespace A1Fleet.Datasets.LeRobot;

/// <summary>
/// An opened LeRobot v2.x dataset: its metadata, episodes in index order, and where each episode's
/// files are. Reading frames is <see cref="Reading.LeRobotDatasetReader"/>'s job; opening touches
/// only <c>meta/</c>, so shards can be planned without reading any parquet.
/// </summary>
public sealed class LeRobotDataset
{
    public const string InfoFile = "meta/info.json";
    public const string EpisodesFile = "meta/episodes.jsonl";
    public const string TasksFile = "meta/tasks.jsonl";

    private readonly Dictionary<int, int> _positionOfEpisode;
    private readonly int[] _firstGlobalIndex;

    private LeRobotDataset(string directory, LeRobotInfo info, List<LeRobotEpisode> episodes, List<LeRobotTask> tasks)
    {
        Directory = directory;
        Info = info;
        Episodes = episodes;
        Tasks = tasks.ToDictionary(t => t.TaskIndex, t => t.Task);
        _positionOfEpisode = new Dictionary<int, int>(episodes.Count);
        _firstGlobalIndex = new int[episodes.Count];
        var next = 0;
        for (var i = 0; i < episodes.Count; i++)
        {
            _positionOfEpisode[episodes[i].EpisodeIndex] = i;
            _firstGlobalIndex[i] = next;
            next = checked(next + episodes[i].Length);
        }

        TotalFrames = next;
    }

    /// <summary>Absolute path of the dataset root.</summary>
    public string Directory { get; }

    public LeRobotInfo Info { get; }

    /// <summary>Episodes sorted by episode_index.</summary>
    public IReadOnlyList<LeRobotEpisode> Episodes { get; }

    /// <summary>task_index to task text.</summary>
    public IReadOnlyDictionary<int, string> Tasks { get; }

    /// <summary>Sum of the episode lengths in episodes.jsonl.</summary>
    public int TotalFrames { get; }

    /// <summary>
    /// Position of an episode's first frame in the whole dataset (episodes in index order, frames in
    /// order). It depends on metadata only, so every shard computes the same global index for a
    /// frame, whichever frames it skips.
    /// </summary>
    public int FirstGlobalIndex(int episodeIndex) => _firstGlobalIndex[PositionOf(episodeIndex)];

    public LeRobotEpisode Episode(int episodeIndex) => Episodes[PositionOf(episodeIndex)];

    public bool HasEpisode(int episodeIndex) => _positionOfEpisode.ContainsKey(episodeIndex);

    /// <summary>Relative path of an episode's parquet file, from the data_path template.</summary>
    public string EpisodeDataPath(int episodeIndex) => PathTemplate.Format(Info.DataPath, new Dictionary<string, object>
    {
        ["episode_chunk"] = episodeIndex / Info.ChunksSize,
        ["episode_index"] = episodeIndex,
    });

    /// <summary>Relative path of an episode's video for a video feature, from the video_path template.</summary>
    public string EpisodeVideoPath(string videoKey, int episodeIndex) => PathTemplate.Format(Info.VideoPath ?? LeRobotInfo.DefaultVideoPath, new Dictionary<string, object>
    {
        ["episode_chunk"] = episodeIndex / Info.ChunksSize,
        ["episode_index"] = episodeIndex,
        ["video_key"] = videoKey,
    });

    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(Directory, relative));

    /// <summary>Reads and checks meta/; every problem found is listed in one <see cref="DatasetFormatException"/>.</summary>
    public static LeRobotDataset Open(string directory)
    {
        var root = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(root))
        {
            throw new DatasetFormatException($"dataset directory '{root}' does not exist");
        }

        var problems = new List<string>();
        var info = ReadInfo(root, problems);
        var episodes = ReadLinesIfPresent<LeRobotEpisode>(root, EpisodesFile, problems);
        var tasks = ReadLinesIfPresent<LeRobotTask>(root, TasksFile, problems);
        if (info is not null)
        {
            CheckInfo(info, problems);
            CheckEpisodes(info, episodes, problems);
        }

        CheckTasks(tasks, problems);
        if (problems.Count > 0 || info is null)
        {
            throw new DatasetFormatException(root, problems);
        }

        return new LeRobotDataset(root, info, [.. episodes.OrderBy(e => e.EpisodeIndex)], tasks);
    }

    private int PositionOf(int episodeIndex) => _positionOfEpisode.TryGetValue(episodeIndex, out var position)
        ? position
        : throw new ArgumentOutOfRangeException(nameof(episodeIndex), episodeIndex, $"dataset '{Directory}' has no episode {episodeIndex} in {EpisodesFile}");

    private static LeRobotInfo? ReadInfo(string root, List<string> problems)
    {
        var path = Path.Combine(root, InfoFile);
        if (!File.Exists(path))
        {
            problems.Add($"'{path}' is missing");
            return null;
        }

        try
        {
            var info = JsonSerializer.Deserialize<LeRobotInfo>(File.ReadAllText(path), LeRobotJson.Indented);
            if (info is null)
            {
                problems.Add($"'{path}' is 'null'");
            }

            return info;
        }
        catch (JsonException ex)
        {
            problems.Add($"'{path}' is not valid JSON for info.json: {ex.Message}");
            return null;
        }
    }

    private static List<T> ReadLinesIfPresent<T>(string root, string relative, List<string> problems)
        where T : class
    {
        var path = Path.Combine(root, relative);
        if (!File.Exists(path))
        {
            problems.Add($"'{path}' is missing");
            return [];
        }

        return LeRobotJson.ReadLines<T>(path, problems);
    }

    private static void CheckInfo(LeRobotInfo info, List<string> problems)
    {
        // v3.0 packs many episodes per file and moves episodes into parquet; its layout differs, so refuse it by name.
        if (!info.CodebaseVersion.StartsWith("v2.", StringComparison.Ordinal))
        {
            problems.Add($"{InfoFile}: codebase_version '{info.CodebaseVersion}' is not supported; this reader handles v2.x (per-episode parquet files)");
        }

        if (!(info.Fps > 0))
        {
            problems.Add($"{InfoFile}: fps {info.Fps} must be positive");
        }

        if (info.ChunksSize < 1)
        {
            problems.Add($"{InfoFile}: chunks_size {info.ChunksSize} must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(info.DataPath))
        {
            problems.Add($"{InfoFile}: data_path is empty");
        }

        if (info.Features.Count == 0)
        {
            problems.Add($"{InfoFile}: features is empty");
        }

        foreach (var (key, feature) in info.Features)
        {
            if (feature is null || string.IsNullOrEmpty(feature.Dtype))
            {
                problems.Add($"{InfoFile}: feature '{key}' has no dtype");
            }
        }
    }

    private static void CheckEpisodes(LeRobotInfo info, List<LeRobotEpisode> episodes, List<string> problems)
    {
        foreach (var duplicate in episodes.GroupBy(e => e.EpisodeIndex).Where(g => g.Count() > 1))
        {
            problems.Add($"{EpisodesFile}: episode_index {duplicate.Key} appears {duplicate.Count()} times");
        }

        foreach (var episode in episodes.Where(e => e.EpisodeIndex < 0 || e.Length < 0))
        {
            problems.Add($"{EpisodesFile}: episode {episode.EpisodeIndex} has a negative index or length ({episode.Length})");
        }

        if (info.TotalEpisodes != episodes.Count)
        {
            problems.Add($"{InfoFile}: total_episodes is {info.TotalEpisodes} but {EpisodesFile} lists {episodes.Count}");
        }
    }

    private static void CheckTasks(List<LeRobotTask> tasks, List<string> problems)
    {
        foreach (var duplicate in tasks.GroupBy(t => t.TaskIndex).Where(g => g.Count() > 1))
        {
            problems.Add($"{TasksFile}: task_index {duplicate.Key} appears {duplicate.Count()} times");
        }
    }
}
