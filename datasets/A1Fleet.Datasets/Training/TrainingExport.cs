using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;

namespace A1Fleet.Datasets.Training;

/// <summary>What an export wrote.</summary>
public sealed record TrainingExportSummary(string Directory, int Episodes, int Frames, int StateDim, int ActionDim, IReadOnlyList<string> Cameras, int ImageHeight, int ImageWidth);

/// <summary>
/// Exports a LeRobot dataset (the source of truth: what the recorder wrote) into the training folder format
/// "a1fleet-training-v1" that a Python trainer reads with numpy alone (Debian's Python has no parquet reader):
/// <c>meta.json</c>; <c>state.npy</c> float32 (frames, state_dim); <c>action.npy</c> float32 (frames, action_dim),
/// the executed command of each frame; <c>images.npy</c> uint8 (frames, cameras, H, W, 3) RGB, cameras in the
/// dataset's feature order (the model's camera order when the recorder wrote it); <c>episode.npy</c> and
/// <c>frame.npy</c> int32 (frames,). Episodes in index order, frames in order. Image features only (no video),
/// all cameras one size, every cell present: this is an export of clean recordings, not a repair tool.
/// </summary>
public static class TrainingExport
{
    public const string Format = "a1fleet-training-v1";

    public static async Task<TrainingExportSummary> ExportAsync(string datasetDirectory, string outputDirectory, CancellationToken cancellationToken = default)
    {
        var dataset = LeRobotDataset.Open(datasetDirectory);
        var features = dataset.Info.Features;
        var state = Require(dataset, FeatureKeys.State);
        var action = Require(dataset, FeatureKeys.Action);
        var cameras = features.Where(f => f.Value.IsCamera).ToList();
        if (cameras.Count == 0)
        {
            throw new DatasetFormatException($"{datasetDirectory}: no camera features to export");
        }

        if (cameras.FirstOrDefault(c => c.Value.IsVideo) is { Key: not null } video)
        {
            throw new DatasetFormatException($"{datasetDirectory}: {video.Key} is video; the training export reads image features only");
        }

        var shape = cameras[0].Value.Shape;
        if (shape.Length != 3 || shape[2] != 3 || cameras.Any(c => !c.Value.Shape.SequenceEqual(shape)))
        {
            throw new DatasetFormatException($"{datasetDirectory}: cameras must all be [H, W, 3] of one size; have {string.Join(", ", cameras.Select(c => $"{c.Key} {c.Value}"))}");
        }

        int height = shape[0], width = shape[1], stateDim = state.VectorLength, actionDim = action.VectorLength;
        var episodes = dataset.Episodes.OrderBy(e => e.EpisodeIndex).ToList();
        var frames = episodes.Sum(e => (long)e.Length);
        Directory.CreateDirectory(outputDirectory);
        var columns = new List<ColumnRequest> { new(FeatureKeys.State, ColumnKind.Vector), new(FeatureKeys.Action, ColumnKind.Vector) };
        columns.AddRange(cameras.Select(c => new ColumnRequest(c.Key, ColumnKind.Image)));
        var frameImage = new byte[cameras.Count * height * width * 3];
        using (var stateOut = NpyWriter.Float32(Path.Combine(outputDirectory, "state.npy"), frames, stateDim))
        using (var actionOut = NpyWriter.Float32(Path.Combine(outputDirectory, "action.npy"), frames, actionDim))
        using (var imagesOut = NpyWriter.UInt8(Path.Combine(outputDirectory, "images.npy"), frames, cameras.Count, height, width, 3))
        using (var episodeOut = NpyWriter.Int32(Path.Combine(outputDirectory, "episode.npy"), frames))
        using (var frameOut = NpyWriter.Int32(Path.Combine(outputDirectory, "frame.npy"), frames))
        {
            foreach (var episode in episodes)
            {
                var path = dataset.FullPath(dataset.EpisodeDataPath(episode.EpisodeIndex));
                var table = await EpisodeTableReader.ReadAsync(path, columns, cancellationToken).ConfigureAwait(false);
                if (table.Rows != episode.Length)
                {
                    throw new DatasetFormatException($"{path}: {table.Rows} rows, meta/episodes.jsonl says {episode.Length}");
                }

                for (var f = 0; f < table.Rows; f++)
                {
                    stateOut.Write(Vector(table, FeatureKeys.State, f, stateDim, path));
                    actionOut.Write(Vector(table, FeatureKeys.Action, f, actionDim, path));
                    for (var c = 0; c < cameras.Count; c++)
                    {
                        var cell = table.Images[cameras[c].Key][f]?.Bytes ?? throw new DatasetFormatException($"{path}: frame {f}: {cameras[c].Key} has no inline image bytes");
                        var decoded = ImageCodec.DecodeRgb(cell, height, width);
                        decoded.Rgb.CopyTo(frameImage.AsSpan(c * height * width * 3));
                    }

                    imagesOut.Write(frameImage);
                    episodeOut.Write([episode.EpisodeIndex]);
                    frameOut.Write([f]);
                }
            }
        }

        var meta = new JsonObject
        {
            ["format"] = Format,
            ["fps"] = dataset.Info.Fps,
            ["state_dim"] = stateDim,
            ["action_dim"] = actionDim,
            ["cameras"] = new JsonArray([.. cameras.Select(c => (JsonNode)c.Key[FeatureKeys.ImagePrefix.Length..])]),
            ["image_height"] = height,
            ["image_width"] = width,
            ["embodiment"] = dataset.Info.RobotType ?? "unknown",
            ["episodes"] = episodes.Count,
            ["frames"] = frames,
            ["episode_instructions"] = new JsonArray([.. episodes.Select(e => (JsonNode)(e.Tasks.Count > 0 ? e.Tasks[0] : ""))]),
            ["source_dataset"] = Path.GetFullPath(datasetDirectory),
        };
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, "meta.json"), meta.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
        return new TrainingExportSummary(Path.GetFullPath(outputDirectory), episodes.Count, (int)frames, stateDim, actionDim,
            [.. cameras.Select(c => c.Key[FeatureKeys.ImagePrefix.Length..])], height, width);
    }

    private static LeRobotFeature Require(LeRobotDataset dataset, string key) =>
        dataset.Info.Features.TryGetValue(key, out var feature) && feature.IsFloat && feature.Shape.Length == 1
            ? feature
            : throw new DatasetFormatException($"{dataset.Directory}: the training export needs a float vector feature '{key}'");

    private static float[] Vector(EpisodeTable table, string key, int frame, int dim, string path)
    {
        var value = table.Vectors[key][frame];
        if (value is null || value.Length != dim || value.Any(v => !float.IsFinite(v)))
        {
            throw new DatasetFormatException($"{path}: frame {frame}: {key} is missing, not {dim} values, or not finite");
        }

        return value;
    }
}
