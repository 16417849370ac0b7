using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Parquet;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Reading;

/// <summary>Turns one row of an episode table into an ObservationSample, or says precisely what is wrong with it.</summary>
internal sealed class FrameAssembler(
    LeRobotDataset dataset,
    ModelManifest manifest,
    DatasetMapping mapping,
    IReadOnlyList<CameraSource> cameras,
    ResizeTally resizes)
{
    private readonly int _stateLength = dataset.Info.Features[mapping.StateKey].VectorLength;
    private readonly int[] _stateDims = mapping.StateDims?.ToArray() ?? [.. Enumerable.Range(0, manifest.State.Dim)];
    private readonly int _actionLength = mapping.ActionKey is null ? 0 : dataset.Info.Features[mapping.ActionKey].VectorLength;
    private readonly int[] _actionDims = mapping.ActionDims?.ToArray() ?? [.. Enumerable.Range(0, DatasetMapping.ValidActionDims(manifest))];

    public sealed record Episode(int Index, string File, EpisodeTable Table, IReadOnlyDictionary<string, List<byte[]>> VideoFrames);

    public (ObservationSample? Sample, DataProblem? Problem) Assemble(Episode episode, int row)
    {
        DataProblem Problem(DataProblemKind kind, string reason) => new(kind, episode.Index, row, episode.File, reason, 1);

        var stateError = Select(episode.Table.Vectors[mapping.StateKey][row], mapping.StateKey, _stateLength, _stateDims, out var state);
        if (stateError is not null)
        {
            return (null, Problem(DataProblemKind.BadState, stateError));
        }

        var (instruction, taskError) = Instruction(episode, row);
        if (taskError is not null)
        {
            return (null, Problem(DataProblemKind.UnknownTask, taskError));
        }

        var images = new List<byte[]>(cameras.Count);
        foreach (var camera in cameras)
        {
            var (image, kind, imageError) = camera.IsVideo ? VideoFrame(episode, row, camera) : DecodeImage(episode, row, camera);
            if (imageError is not null)
            {
                return (null, Problem(kind, imageError));
            }

            images.Add(image!);
        }

        float[]? actions = null;
        if (mapping.ActionKey is { } actionKey)
        {
            var (chunk, actionError) = ActionChunk(episode.Table, actionKey, row);
            if (actionError is not null)
            {
                return (null, Problem(DataProblemKind.BadAction, actionError));
            }

            actions = chunk;
        }

        return (new ObservationSample
        {
            Instruction = instruction!,
            State = state!,
            Images = images,
            Actions = actions,
            Episode = episode.Index,
        }, null);
    }

    /// <summary>
    /// ObservationSample.Actions is a chunk: this frame's action and the next H-1 frames'. Past the
    /// episode's end the last action repeats, as LeRobot pads delta-timestamp queries.
    /// </summary>
    private (float[]? Chunk, string? Error) ActionChunk(EpisodeTable table, string key, int row)
    {
        var chunk = manifest.Action.Chunk;
        var width = _actionDims.Length;
        var actions = new float[chunk * width];
        for (var step = 0; step < chunk; step++)
        {
            var frame = Math.Min(row + step, table.Rows - 1);
            var error = Select(table.Vectors[key][frame], key, _actionLength, _actionDims, out var selected);
            if (error is not null)
            {
                return (null, frame == row ? error : $"the action chunk needs frame {frame}, whose {error}");
            }

            selected!.CopyTo(actions, step * width);
        }

        return (actions, null);
    }

    private static string? Select(float[]? raw, string key, int expectedLength, int[] dims, out float[]? selected)
    {
        selected = null;
        if (raw is null)
        {
            return $"{key} is null";
        }

        if (raw.Length != expectedLength)
        {
            return $"{key} has {raw.Length} values; info.json declares {expectedLength}";
        }

        var result = new float[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            var value = raw[dims[i]];
            if (!float.IsFinite(value))
            {
                return $"{key}[{dims[i]}] is {value} (null or not finite)";
            }

            result[i] = value;
        }

        selected = result;
        return null;
    }

    private (string? Instruction, string? Error) Instruction(Episode episode, int row)
    {
        if (mapping.Instruction is { } fixedInstruction)
        {
            return (fixedInstruction, null);
        }

        if (episode.Table.Integers.TryGetValue(FeatureKeys.TaskIndex, out var taskIndices))
        {
            if (taskIndices[row] is not { } taskIndex)
            {
                return (null, "task_index is null");
            }

            return dataset.Tasks.TryGetValue((int)taskIndex, out var task)
                ? (task, null)
                : (null, $"task_index {taskIndex} is not in {LeRobotDataset.TasksFile}");
        }

        // Without a task_index column an episode with a single task is still unambiguous.
        var tasks = dataset.Episode(episode.Index).Tasks;
        return tasks.Count == 1
            ? (tasks[0], null)
            : (null, $"there is no task_index column and {LeRobotDataset.EpisodesFile} lists {tasks.Count} tasks for the episode; set a fixed instruction in the mapping");
    }

    private (byte[]? Image, DataProblemKind Kind, string? Error) DecodeImage(Episode episode, int row, CameraSource camera)
    {
        var cell = episode.Table.Images[camera.FeatureKey][row];
        var bytes = cell?.Bytes;
        if ((bytes is null || bytes.Length == 0) && cell?.Path is { } imagePath)
        {
            // HF datasets may keep only a path; it is relative to the dataset root unless absolute.
            var full = dataset.FullPath(imagePath);
            if (!File.Exists(full))
            {
                return (null, DataProblemKind.MissingImage, $"{camera.FeatureKey} refers to image file '{imagePath}', which is missing");
            }

            bytes = File.ReadAllBytes(full);
        }

        if (bytes is null || bytes.Length == 0)
        {
            return (null, DataProblemKind.MissingImage, $"{camera.FeatureKey} holds no image");
        }

        try
        {
            var decoded = ImageCodec.DecodeRgb(bytes, camera.Camera.Height, camera.Camera.Width);
            if (decoded.WasResized)
            {
                resizes.Add(camera, decoded.SourceHeight, decoded.SourceWidth);
            }

            return (decoded.Rgb, default, null);
        }
        catch (InvalidDataException ex)
        {
            return (null, DataProblemKind.CorruptImage, $"{camera.FeatureKey}: {ex.Message}");
        }
    }

    private (byte[]? Image, DataProblemKind Kind, string? Error) VideoFrame(Episode episode, int row, CameraSource camera)
    {
        var frames = episode.VideoFrames[camera.FeatureKey];
        if (!episode.Table.Reals.TryGetValue(FeatureKeys.Timestamp, out var timestamps) || timestamps[row] is not { } timestamp)
        {
            return (null, DataProblemKind.MissingVideoFrame, $"{camera.FeatureKey} is a video feature but the frame has no timestamp");
        }

        var index = (int)Math.Round(timestamp * dataset.Info.Fps);
        if (index < 0 || index >= frames.Count)
        {
            return (null, DataProblemKind.MissingVideoFrame,
                $"{camera.FeatureKey}: timestamp {timestamp} s is video frame {index}, but '{dataset.EpisodeVideoPath(camera.FeatureKey, episode.Index)}' has {frames.Count} frames");
        }

        return (frames[index], default, null);
    }
}
