using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;

namespace A1Fleet.Datasets.Writing;

/// <summary>
/// Records episodes as a LeRobot v2.0 dataset with image storage: one parquet per episode
/// (state/action lists, PNG image structs, timestamp = frame / fps, frame/episode/global/task
/// indices), then meta/info.json, episodes.jsonl and tasks.jsonl on <see cref="CompleteAsync"/>.
/// Not thread-safe: one recorder writes one dataset.
/// </summary>
public sealed class LeRobotDatasetWriter
{
    public const string CodebaseVersion = "v2.0";

    private readonly DatasetLayout _layout;
    private readonly List<LeRobotEpisode> _episodes = [];
    private readonly Dictionary<string, int> _taskIndex = new(StringComparer.Ordinal);
    private int _frames;
    private bool _completed;

    private LeRobotDatasetWriter(string directory, DatasetLayout layout)
    {
        Directory = directory;
        _layout = layout;
    }

    public string Directory { get; }

    public int EpisodeCount => _episodes.Count;

    /// <summary>Starts a dataset in <paramref name="directory"/>.</summary>
    /// <param name="overwrite">Replace an existing dataset's meta/ and data/ folders; otherwise an existing dataset is an error.</param>
    /// <exception cref="ArgumentException">The layout is invalid (every problem listed).</exception>
    /// <exception cref="IOException">A dataset is already there and overwrite is false.</exception>
    public static LeRobotDatasetWriter Create(string directory, DatasetLayout layout, bool overwrite = false)
    {
        var errors = layout.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid dataset layout: " + string.Join("; ", errors), nameof(layout));
        }

        var root = Path.GetFullPath(directory);
        if (File.Exists(Path.Combine(root, LeRobotDataset.InfoFile)))
        {
            if (!overwrite)
            {
                throw new IOException($"'{root}' already holds a dataset ({LeRobotDataset.InfoFile}); choose another folder or overwrite it");
            }

            foreach (var folder in new[] { "meta", "data" })
            {
                var path = Path.Combine(root, folder);
                if (System.IO.Directory.Exists(path))
                {
                    System.IO.Directory.Delete(path, recursive: true);
                }
            }
        }

        System.IO.Directory.CreateDirectory(Path.Combine(root, "meta"));
        return new LeRobotDatasetWriter(root, layout);
    }

    /// <summary>Writes one episode's parquet file; returns its episode index.</summary>
    /// <exception cref="ArgumentException">A frame does not fit the layout; the message names the frame.</exception>
    public async Task<int> WriteEpisodeAsync(IReadOnlyList<RecordedFrame> frames, CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException($"dataset '{Directory}' is already completed");
        }

        var episode = _episodes.Count;
        if (frames.Count == 0)
        {
            throw new ArgumentException($"episode {episode} has no frames; LeRobot episodes hold at least one", nameof(frames));
        }

        for (var f = 0; f < frames.Count; f++)
        {
            CheckFrame(frames[f], episode, f);
        }

        var table = new EpisodeTable(frames.Count);
        table.Vectors[FeatureKeys.State] = [.. frames.Select(f => f.State)];
        if (_layout.ActionDim is not null)
        {
            table.Vectors[FeatureKeys.Action] = [.. frames.Select(f => f.Action)];
        }

        for (var c = 0; c < _layout.Cameras.Count; c++)
        {
            var camera = _layout.Cameras[c];
            table.Images[camera.FeatureKey] = [.. frames.Select(f => new EncodedImage(ImageCodec.EncodePng(f.Images[c], camera.Height, camera.Width), null))];
        }

        table.Reals[FeatureKeys.Timestamp] = [.. Enumerable.Range(0, frames.Count).Select(f => (float?)(float)(f / _layout.Fps))];
        table.Integers[FeatureKeys.FrameIndex] = [.. Enumerable.Range(0, frames.Count).Select(f => (long?)f)];
        table.Integers[FeatureKeys.EpisodeIndex] = [.. Enumerable.Repeat((long?)episode, frames.Count)];
        table.Integers[FeatureKeys.Index] = [.. Enumerable.Range(_frames, frames.Count).Select(i => (long?)i)];
        table.Integers[FeatureKeys.TaskIndex] = [.. frames.Select(f => (long?)TaskIndex(f.Task))];

        var path = Path.Combine(Directory, PathTemplate.Format(LeRobotInfo.DefaultDataPath, new Dictionary<string, object>
        {
            ["episode_chunk"] = episode / _layout.ChunksSize,
            ["episode_index"] = episode,
        }));
        await EpisodeTableWriter.WriteAsync(path, table, cancellationToken);
        _episodes.Add(new LeRobotEpisode { EpisodeIndex = episode, Tasks = [.. frames.Select(f => f.Task).Distinct()], Length = frames.Count });
        _frames += frames.Count;
        return episode;
    }

    /// <summary>Writes the metadata; the dataset is readable from then on.</summary>
    public Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var info = new LeRobotInfo
        {
            CodebaseVersion = CodebaseVersion,
            RobotType = _layout.RobotType,
            TotalEpisodes = _episodes.Count,
            TotalFrames = _frames,
            TotalTasks = _taskIndex.Count,
            TotalVideos = 0,
            TotalChunks = _episodes.Count == 0 ? 0 : ((_episodes.Count - 1) / _layout.ChunksSize) + 1,
            ChunksSize = _layout.ChunksSize,
            Fps = _layout.Fps,
            Splits = new() { ["train"] = $"0:{_episodes.Count}" },
            DataPath = LeRobotInfo.DefaultDataPath,
            VideoPath = null,
            Features = Features(),
        };
        File.WriteAllText(Path.Combine(Directory, LeRobotDataset.InfoFile), JsonSerializer.Serialize(info, LeRobotJson.Indented) + "\n");
        LeRobotJson.WriteLines(Path.Combine(Directory, LeRobotDataset.EpisodesFile), _episodes);
        LeRobotJson.WriteLines(Path.Combine(Directory, LeRobotDataset.TasksFile),
            _taskIndex.OrderBy(t => t.Value).Select(t => new LeRobotTask { TaskIndex = t.Value, Task = t.Key }));
        _completed = true;
        return Task.CompletedTask;
    }

    private Dictionary<string, LeRobotFeature> Features()
    {
        var features = new Dictionary<string, LeRobotFeature>(StringComparer.Ordinal)
        {
            [FeatureKeys.State] = new() { Dtype = "float32", Shape = [_layout.StateDim], Names = Names(_layout.StateNames) },
        };
        if (_layout.ActionDim is { } actionDim)
        {
            features[FeatureKeys.Action] = new() { Dtype = "float32", Shape = [actionDim], Names = Names(_layout.ActionNames) };
        }

        foreach (var camera in _layout.Cameras)
        {
            features[camera.FeatureKey] = new() { Dtype = FeatureKeys.ImageDtype, Shape = [camera.Height, camera.Width, 3], Names = Names(["height", "width", "channel"]) };
        }

        features[FeatureKeys.Timestamp] = new() { Dtype = "float32", Shape = [1] };
        foreach (var key in new[] { FeatureKeys.FrameIndex, FeatureKeys.EpisodeIndex, FeatureKeys.Index, FeatureKeys.TaskIndex })
        {
            features[key] = new() { Dtype = "int64", Shape = [1] };
        }

        return features;
    }

    private static JsonArray? Names(IReadOnlyList<string>? names) => names is null ? null : new JsonArray([.. names.Select(n => JsonValue.Create(n))]);

    private int TaskIndex(string task)
    {
        if (!_taskIndex.TryGetValue(task, out var index))
        {
            index = _taskIndex.Count;
            _taskIndex[task] = index;
        }

        return index;
    }

    private void CheckFrame(RecordedFrame frame, int episode, int index)
    {
        string Where() => $"episode {episode}, frame {index}";
        if (string.IsNullOrWhiteSpace(frame.Task))
        {
            throw new ArgumentException($"{Where()}: the task is empty");
        }

        if (frame.State.Length != _layout.StateDim)
        {
            throw new ArgumentException($"{Where()}: state has {frame.State.Length} values; the layout's state dim is {_layout.StateDim}");
        }

        if (_layout.ActionDim is { } actionDim && frame.Action?.Length != actionDim)
        {
            throw new ArgumentException($"{Where()}: action has {frame.Action?.Length.ToString() ?? "no"} values; the layout's action dim is {actionDim}");
        }

        if (_layout.ActionDim is null && frame.Action is not null)
        {
            throw new ArgumentException($"{Where()}: an action was given but the layout records none");
        }

        if (frame.Images.Count != _layout.Cameras.Count)
        {
            throw new ArgumentException($"{Where()}: {frame.Images.Count} images for {_layout.Cameras.Count} cameras");
        }

        for (var c = 0; c < frame.Images.Count; c++)
        {
            var camera = _layout.Cameras[c];
            if (frame.Images[c].Length != camera.Height * camera.Width * 3)
            {
                throw new ArgumentException($"{Where()}: camera '{camera.Name}' image has {frame.Images[c].Length} bytes; {camera.Height}x{camera.Width} RGB8 needs {camera.Height * camera.Width * 3}");
            }
        }
    }
}
