using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Writing;

/// <summary>A camera stream to record: stored as feature observation.images.&lt;name&gt;, PNG per frame.</summary>
public sealed record CameraLayout(string Name, int Height, int Width)
{
    public string FeatureKey => FeatureKeys.ImagePrefix + Name;
}

/// <summary>What a recorded dataset holds per frame, and at which rate.</summary>
public sealed record DatasetLayout
{
    /// <summary>Recording rate: frame f gets timestamp f / Fps. Real A1 arms act at 20 Hz.</summary>
    public required double Fps { get; init; }

    public string RobotType { get; init; } = "unknown";

    public required IReadOnlyList<CameraLayout> Cameras { get; init; }

    public required int StateDim { get; init; }

    public IReadOnlyList<string>? StateNames { get; init; }

    /// <summary>Null records no action feature.</summary>
    public int? ActionDim { get; init; }

    public IReadOnlyList<string>? ActionNames { get; init; }

    /// <summary>Episodes per data chunk folder (LeRobot's default is 1000).</summary>
    public int ChunksSize { get; init; } = 1000;

    /// <summary>The layout a model's observations need: its cameras and state, and its non-padding action dims.</summary>
    public static DatasetLayout ForModel(ModelManifest manifest, double fps, string robotType, bool withAction = true) => new()
    {
        Fps = fps,
        RobotType = robotType,
        Cameras = [.. manifest.Cameras.Select(c => new CameraLayout(c.Name, c.Height, c.Width))],
        StateDim = manifest.State.Dim,
        ActionDim = withAction ? DatasetMapping.ValidActionDims(manifest) : null,
    };

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(Fps > 0))
        {
            errors.Add($"fps {Fps} must be positive");
        }

        if (StateDim < 1)
        {
            errors.Add($"state dim {StateDim} must be at least 1");
        }

        if (ActionDim is < 1)
        {
            errors.Add($"action dim {ActionDim} must be at least 1 (or null for no action)");
        }

        if (StateNames is not null && StateNames.Count != StateDim)
        {
            errors.Add($"{StateNames.Count} state names for state dim {StateDim}");
        }

        if (ActionNames is not null && ActionNames.Count != (ActionDim ?? 0))
        {
            errors.Add($"{ActionNames.Count} action names for action dim {ActionDim}");
        }

        if (ChunksSize < 1)
        {
            errors.Add($"chunks size {ChunksSize} must be at least 1");
        }

        foreach (var camera in Cameras.Where(c => c.Height < 1 || c.Width < 1 || string.IsNullOrWhiteSpace(c.Name)))
        {
            errors.Add($"camera '{camera.Name}' {camera.Height}x{camera.Width} needs a name and a positive size");
        }

        foreach (var duplicate in Cameras.GroupBy(c => c.Name).Where(g => g.Count() > 1))
        {
            errors.Add($"camera '{duplicate.Key}' appears {duplicate.Count()} times");
        }

        return errors;
    }
}

/// <summary>One recorded frame: the task being done, proprio, the action taken, and RGB8 HWC images in layout camera order.</summary>
public sealed record RecordedFrame(string Task, float[] State, float[]? Action, IReadOnlyList<byte[]> Images);
