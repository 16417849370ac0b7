using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Config;

/// <summary>
/// Named configs. The tiny presets keep tests fast; the small presets have real-looking shapes
/// (two cameras, 145+ prefix tokens, 12 layers) for timings. The fm/mlp pairs share a backbone.
/// </summary>
public static class ReferenceModelPresets
{
    public const string TinyFm = "tiny-fm";
    public const string TinyMlp = "tiny-mlp";
    public const string SmallFm = "small-fm";
    public const string SmallMlp = "small-mlp";

    public static IReadOnlyList<string> Names { get; } = [TinyFm, TinyMlp, SmallFm, SmallMlp];

    public static ReferenceModelConfig Get(string name) => name switch
    {
        TinyFm => WithActionBounds(TinyBackbone() with
        {
            Name = TinyFm,
            HeadKind = HeadKinds.FlowMatching,
            Chunk = 4,
            ActionDim = 8,
            PaddingDims = [6, 7],
            ExpertHidden = 32,
            ExpertMlp = 64,
        }),
        TinyMlp => WithActionBounds(TinyBackbone() with
        {
            Name = TinyMlp,
            HeadKind = HeadKinds.Mlp,
            Chunk = 4,
            ActionDim = 6,
            MlpHeadHidden = 64,
        }),
        SmallFm => WithActionBounds(SmallBackbone() with
        {
            Name = SmallFm,
            HeadKind = HeadKinds.FlowMatching,
            Chunk = 10,
            ActionDim = 16,
            PaddingDims = [8, 9, 10, 11, 12, 13, 14, 15],
            ExpertHidden = 128,
            ExpertMlp = 256,
        }),
        SmallMlp => WithActionBounds(SmallBackbone() with
        {
            Name = SmallMlp,
            HeadKind = HeadKinds.Mlp,
            Chunk = 8,
            ActionDim = 8,
            MlpHeadHidden = 256,
        }),
        _ => throw new ArgumentException($"Unknown preset '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>Five Franka joints plus gripper (Sd = 6), one 16x16 camera, 6 layers of width 32.</summary>
    private static ReferenceModelConfig TinyBackbone()
    {
        var (q01, q99) = RobotBounds.FrankaState(joints: 5);
        return new ReferenceModelConfig
        {
            LmLayers = 6,
            Hidden = 32,
            KvHeads = 2,
            HeadDim = 16,
            Mlp = 64,
            VisionLayers = 1,
            Cameras = ["front"],
            ImageSize = 16,
            Patch = 8,
            MaxTokens = 8,
            StateDim = 6,
            StateQ01 = q01,
            StateQ99 = q99,
            SampleEpisodes = 8,
            SampleFramesPerEpisode = 6,
        };
    }

    /// <summary>Full Franka (7 joints + gripper), front and wrist 64x64 cameras, 12 layers of width 256.</summary>
    private static ReferenceModelConfig SmallBackbone()
    {
        var (q01, q99) = RobotBounds.FrankaState(joints: 7);
        return new ReferenceModelConfig
        {
            LmLayers = 12,
            Hidden = 256,
            KvHeads = 4,
            HeadDim = 64,
            Mlp = 768,
            VisionLayers = 3,
            Cameras = ["front", "wrist"],
            ImageSize = 64,
            Patch = 8,
            MaxTokens = 16,
            StateDim = 8,
            StateQ01 = q01,
            StateQ99 = q99,
            SampleEpisodes = 16,
            SampleFramesPerEpisode = 12,
        };
    }

    private static ReferenceModelConfig WithActionBounds(ReferenceModelConfig config)
    {
        var (q01, q99) = RobotBounds.ActionsFromState([.. config.StateQ01], [.. config.StateQ99], config.ActionDim, [.. config.PaddingDims]);
        return config with { ActionQ01 = q01, ActionQ99 = q99 };
    }
}
