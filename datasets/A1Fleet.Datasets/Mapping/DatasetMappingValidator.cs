using A1Fleet.Datasets.LeRobot;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Mapping;

/// <summary>Checks a mapping against a model and a dataset and lists every problem, each naming the mapping field.</summary>
public static class DatasetMappingValidator
{
    public static IReadOnlyList<string> Validate(DatasetMapping mapping, ModelManifest manifest, LeRobotDataset dataset)
    {
        var errors = new List<string>();
        var info = dataset.Info;
        ValidateCameras(mapping, manifest, info, errors);
        ValidateVector(info, "stateKey", mapping.StateKey, "stateDims", mapping.StateDims, manifest.State.Dim, "the model's state dim", errors);
        if (mapping.ActionKey is not null)
        {
            ValidateVector(info, "actionKey", mapping.ActionKey, "actionDims", mapping.ActionDims, DatasetMapping.ValidActionDims(manifest),
                "the model's non-padding action dims", errors);
        }
        else if (mapping.ActionDims is not null)
        {
            errors.Add("actionDims is set but actionKey is not: name the action feature or drop actionDims");
        }

        if (mapping.Instruction is null)
        {
            if (dataset.Tasks.Count == 0)
            {
                errors.Add($"instruction is not set and {LeRobotDataset.TasksFile} lists no tasks: set a fixed \"instruction\"");
            }
        }
        else if (string.IsNullOrWhiteSpace(mapping.Instruction))
        {
            errors.Add("instruction is empty: give the text, or null to take each frame's task");
        }

        return errors;
    }

    /// <exception cref="MappingException">Any problem; the message lists all of them.</exception>
    public static void ThrowIfInvalid(DatasetMapping mapping, ModelManifest manifest, LeRobotDataset dataset)
    {
        var errors = Validate(mapping, manifest, dataset);
        if (errors.Count > 0)
        {
            throw new MappingException(manifest.ModelId, dataset.Directory, errors);
        }
    }

    private static void ValidateCameras(DatasetMapping mapping, ModelManifest manifest, LeRobotInfo info, List<string> errors)
    {
        var cameras = info.Features.Where(f => f.Value.IsCamera).Select(f => f.Key).ToList();
        var available = cameras.Count == 0 ? "the dataset has no image or video features" : "dataset cameras: " + string.Join(", ", cameras);
        foreach (var camera in manifest.Cameras)
        {
            if (!mapping.Cameras.ContainsKey(camera.Name))
            {
                errors.Add($"cameras: model camera '{camera.Name}' ({camera.Height}x{camera.Width}) is not mapped; {available}");
            }
        }

        foreach (var (camera, key) in mapping.Cameras)
        {
            if (manifest.Cameras.All(c => c.Name != camera))
            {
                errors.Add($"cameras: '{camera}' is not a camera of model '{manifest.ModelId}' (cameras: {string.Join(", ", manifest.Cameras.Select(c => c.Name))})");
            }

            if (!info.Features.TryGetValue(key, out var feature))
            {
                errors.Add($"cameras.{camera}: feature '{key}' is not in info.json; {available}");
            }
            else if (!feature.IsCamera)
            {
                errors.Add($"cameras.{camera}: feature '{key}' has dtype '{feature.Dtype}'; an \"image\" or \"video\" feature is needed");
            }
            else if (feature.Shape.Length == 3 && feature.Shape[^1] != 3 && feature.Shape[0] != 3)
            {
                errors.Add($"cameras.{camera}: feature '{key}' has shape [{string.Join(", ", feature.Shape)}]; 3 colour channels are needed");
            }
        }
    }

    private static void ValidateVector(LeRobotInfo info, string keyField, string key, string dimsField, List<int>? dims, int modelDim, string what, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            errors.Add($"{keyField} is empty");
            return;
        }

        if (!info.Features.TryGetValue(key, out var feature))
        {
            errors.Add($"{keyField}: feature '{key}' is not in info.json (features: {string.Join(", ", info.Features.Keys)})");
            return;
        }

        if (!feature.IsFloat)
        {
            errors.Add($"{keyField}: feature '{key}' has dtype '{feature.Dtype}'; float32 or float64 is needed");
        }

        var length = feature.VectorLength;
        if (dims is null)
        {
            if (length != modelDim)
            {
                errors.Add($"{keyField}: feature '{key}' has {length} values per frame but {what} is {modelDim}; select and order them with \"{dimsField}\"");
            }

            return;
        }

        if (dims.Count != modelDim)
        {
            errors.Add($"{dimsField} selects {dims.Count} values but {what} is {modelDim}");
        }

        foreach (var dim in dims.Where(d => d < 0 || d >= length))
        {
            errors.Add($"{dimsField}: index {dim} is outside feature '{key}' (0..{length - 1})");
        }

        foreach (var duplicate in dims.GroupBy(d => d).Where(g => g.Count() > 1))
        {
            errors.Add($"{dimsField}: index {duplicate.Key} is selected {duplicate.Count()} times");
        }
    }
}

/// <summary>A mapping does not fit the model or the dataset; <see cref="Problems"/> lists every reason.</summary>
public sealed class MappingException : Exception
{
    public MappingException(string message) : base(message) { }
    public MappingException(string message, Exception inner) : base(message, inner) { }

    public MappingException(string modelId, string datasetDirectory, IReadOnlyList<string> problems)
        : base($"the mapping of dataset '{datasetDirectory}' onto model '{modelId}' is invalid:\n  - " + string.Join("\n  - ", problems))
    {
        Problems = problems;
    }

    public IReadOnlyList<string> Problems { get; } = [];
}
