using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;

namespace A1Fleet.Datasets.Writing;

/// <summary>
/// Records episodes as a LeRobot v2.0 dataset with image storage: one parquet per episode
/// (state/action lists, PNG image structs, timestamp = frame / fps, frame/episode/global/task
/// indices) and meta/info.json, episodes.jsonl and tasks.jsonl. With <see cref="DatasetWriteMode.Append"/>
/// the metadata is rewritten after every episode (each file replaced whole), so a recorder that is
/// killed leaves a readable dataset holding every episode it finished.
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
    private bool _flushEachEpisode;

    private LeRobotDatasetWriter(string directory, DatasetLayout layout)
    {
        Directory = directory;
        _layout = layout;
    }

    public string Directory { get; }

    public int EpisodeCount => _episodes.Count;

    /// <summary>Frames in the dataset, including those of episodes that were there before an append.</summary>
    public int FrameCount => _frames;

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

    /// <summary>
    /// Opens the dataset in <paramref name="directory"/> to add episodes after the ones it holds, or starts
    /// one when the folder holds none. The existing dataset must be one this writer could have written with
    /// <paramref name="layout"/> (same fps, chunk size, state/action dims and cameras, image storage); a
    /// mismatch is an error naming every difference, and nothing is changed. Metadata is rewritten after
    /// each episode.
    /// </summary>
    /// <exception cref="ArgumentException">The layout is invalid.</exception>
    /// <exception cref="DatasetFormatException">The existing dataset is unreadable or was recorded with another layout.</exception>
    public static LeRobotDatasetWriter Append(string directory, DatasetLayout layout)
    {
        var root = Path.GetFullPath(directory);
        if (!File.Exists(Path.Combine(root, LeRobotDataset.InfoFile)))
        {
            var created = Create(root, layout);
            created._flushEachEpisode = true;
            created.WriteMetadata();
            return created;
        }

        var errors = layout.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid dataset layout: " + string.Join("; ", errors), nameof(layout));
        }

        var existing = LeRobotDataset.Open(root);
        var mismatches = Mismatches(existing.Info, layout);
        if (mismatches.Count > 0)
        {
            throw new DatasetFormatException(root, mismatches.Select(m => $"cannot append: {m}").ToList());
        }

        var writer = new LeRobotDatasetWriter(root, layout) { _flushEachEpisode = true, _frames = existing.TotalFrames };
        writer._episodes.AddRange(existing.Episodes);
        foreach (var (index, task) in existing.Tasks.OrderBy(t => t.Key))
        {
            writer._taskIndex[task] = index;
        }

        return writer;
    }

    /// <summary>Writes one episode's parquet file; returns its episode index.</summary>
    /// <exception cref="ArgumentException">A frame does not fit the layout; the message names the frame.</exception>
    public async Task<int> WriteEpisodeAsync(IReadOnlyList<RecordedFrame> frames, CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException($"dataset '{Directory}' is already completed");
        }

        // After an append the indices go on from the highest one, whatever gaps an edited dataset has.
        var episode = _episodes.Count == 0 ? 0 : _episodes.Max(e => e.EpisodeIndex) + 1;
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
        if (_flushEachEpisode)
        {
            WriteMetadata();
        }

        return episode;
    }

    /// <summary>Writes the metadata; the dataset is readable from then on.</summary>
    public Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        WriteMetadata();
        _completed = true;
        return Task.CompletedTask;
    }

    private void WriteMetadata()
    {
        var chunks = _episodes.Count == 0 ? 0 : (_episodes.Max(e => e.EpisodeIndex) / _layout.ChunksSize) + 1;
        var info = new LeRobotInfo
        {
            CodebaseVersion = CodebaseVersion,
            RobotType = _layout.RobotType,
            TotalEpisodes = _episodes.Count,
            TotalFrames = _frames,
            TotalTasks = _taskIndex.Count,
            TotalVideos = 0,
            TotalChunks = chunks,
            ChunksSize = _layout.ChunksSize,
            Fps = _layout.Fps,
            Splits = new() { ["train"] = $"0:{_episodes.Count}" },
            DataPath = LeRobotInfo.DefaultDataPath,
            VideoPath = null,
            Features = Features(),
        };

        // Tasks and episodes first, info last: a reader that opens the dataset between two files sees
        // counts that are never ahead of the lists, and each file is replaced whole, never half written.
        ReplaceFile(LeRobotDataset.TasksFile, path => LeRobotJson.WriteLines(path,
            _taskIndex.OrderBy(t => t.Value).Select(t => new LeRobotTask { TaskIndex = t.Value, Task = t.Key })));
        ReplaceFile(LeRobotDataset.EpisodesFile, path => LeRobotJson.WriteLines(path, _episodes));
        ReplaceFile(LeRobotDataset.InfoFile, path => File.WriteAllText(path, JsonSerializer.Serialize(info, LeRobotJson.Indented) + "\n"));
    }

    private void ReplaceFile(string relative, Action<string> write)
    {
        var path = Path.Combine(Directory, relative);
        var temporary = path + ".tmp";
        write(temporary);
        File.Move(temporary, path, overwrite: true);
    }

    private static List<string> Mismatches(LeRobotInfo info, DatasetLayout layout)
    {
        var problems = new List<string>();
        if (info.Fps != layout.Fps)
        {
            problems.Add($"the dataset runs at {info.Fps} fps, the recording at {layout.Fps}");
        }

        if (info.ChunksSize != layout.ChunksSize)
        {
            problems.Add($"chunks_size is {info.ChunksSize}, the recording uses {layout.ChunksSize}");
        }

        if (info.DataPath != LeRobotInfo.DefaultDataPath)
        {
            problems.Add($"data_path '{info.DataPath}' is not the writer's '{LeRobotInfo.DefaultDataPath}'");
        }

        CheckVector(info, FeatureKeys.State, layout.StateDim, problems);
        if (layout.ActionDim is { } actionDim)
        {
            CheckVector(info, FeatureKeys.Action, actionDim, problems);
        }
        else if (info.Features.ContainsKey(FeatureKeys.Action))
        {
            problems.Add($"the dataset has an '{FeatureKeys.Action}' feature; the recording has none");
        }

        var cameras = info.Features.Where(f => f.Value.IsCamera).ToDictionary(f => f.Key, f => f.Value);
        foreach (var camera in layout.Cameras)
        {
            if (!cameras.Remove(camera.FeatureKey, out var feature))
            {
                problems.Add($"the dataset has no camera '{camera.FeatureKey}'");
            }
            else if (feature.Dtype != FeatureKeys.ImageDtype || !feature.Shape.SequenceEqual([camera.Height, camera.Width, 3]))
            {
                problems.Add($"camera '{camera.FeatureKey}' is {feature}; the recording writes image[{camera.Height}, {camera.Width}, 3]");
            }
        }

        problems.AddRange(cameras.Keys.Select(key => $"the dataset has camera '{key}', which the recording does not write"));
        return problems;
    }

    private static void CheckVector(LeRobotInfo info, string key, int dim, List<string> problems)
    {
        if (!info.Features.TryGetValue(key, out var feature))
        {
            problems.Add($"the dataset has no '{key}' feature");
        }
        else if (feature.VectorLength != dim)
        {
            problems.Add($"'{key}' holds {feature.VectorLength} values, the recording {dim}");
        }
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
