using System.Text.Json;
using System.Text.Json.Serialization;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Mapping;

/// <summary>
/// How a LeRobot dataset's features feed a model's inputs (docs/calibration.md, "Mapping"). JSON
/// (camelCase) example:
/// <code>
/// {
///   "cameras": { "front": "observation.images.top", "wrist": "observation.images.wrist" },
///   "stateKey": "observation.state",
///   "stateDims": [0, 1, 2, 3, 4, 5, 6, 13],
///   "actionKey": "action",
///   "instruction": null
/// }
/// </code>
/// </summary>
public sealed class DatasetMapping
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Model camera name (manifest "cameras[].name") to dataset image/video feature key.</summary>
    public Dictionary<string, string> Cameras { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Feature holding proprio (robot units).</summary>
    public string StateKey { get; set; } = FeatureKeys.State;

    /// <summary>
    /// Optional selection/reorder: model state dim i takes dataset state element StateDims[i]. Null
    /// means the dataset vector is used as is and must have the model's state dim.
    /// </summary>
    public List<int>? StateDims { get; set; }

    /// <summary>Optional feature holding the per-frame action; the reader then fills ObservationSample.Actions with the next H frames' actions.</summary>
    public string? ActionKey { get; set; }

    /// <summary>Optional selection/reorder of the action vector, like <see cref="StateDims"/>, into the model's non-padding action dims.</summary>
    public List<int>? ActionDims { get; set; }

    /// <summary>A fixed instruction for every frame; null takes each frame's task (task_index into meta/tasks.jsonl).</summary>
    public string? Instruction { get; set; }

    /// <summary>
    /// The obvious mapping: each model camera from <c>observation.images.&lt;name&gt;</c> (or the
    /// dataset's only camera when both have one), state from observation.state, the action when the
    /// dataset has one, instructions from the tasks.
    /// </summary>
    public static DatasetMapping Default(ModelManifest manifest, LeRobotInfo info)
    {
        var mapping = new DatasetMapping();
        var datasetCameras = info.Features.Where(f => f.Value.IsCamera).Select(f => f.Key).ToList();
        foreach (var camera in manifest.Cameras)
        {
            var key = FeatureKeys.ImagePrefix + camera.Name;
            if (info.Features.ContainsKey(key))
            {
                mapping.Cameras[camera.Name] = key;
            }
            else if (manifest.Cameras.Count == 1 && datasetCameras.Count == 1)
            {
                mapping.Cameras[camera.Name] = datasetCameras[0];
            }
        }

        mapping.ActionKey = info.Features.ContainsKey(FeatureKeys.Action) ? FeatureKeys.Action : null;
        return mapping;
    }

    /// <exception cref="InvalidDataException">The file is missing or not a mapping; the message names the file.</exception>
    public static DatasetMapping Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"mapping file '{path}' does not exist");
        }

        try
        {
            return FromJson(File.ReadAllText(path));
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"mapping file '{path}': {ex.Message}", ex);
        }
    }

    public static DatasetMapping FromJson(string json)
    {
        try
        {
            var mapping = JsonSerializer.Deserialize<DatasetMapping>(json, JsonOptions)
                ?? throw new InvalidDataException("the mapping is 'null'");
            mapping.Cameras ??= new(StringComparer.Ordinal);
            return mapping;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"not a valid mapping: {ex.Message}", ex);
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Number of non-padding action dims a model's chunks carry (what ObservationSample.Actions holds per step).</summary>
    public static int ValidActionDims(ModelManifest manifest) => manifest.Action.Dim - manifest.Action.PaddingDims.Distinct().Count();
}
