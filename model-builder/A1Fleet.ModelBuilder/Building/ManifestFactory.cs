using System.Globalization;
using System.Text.Json;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Building;

/// <summary>Fills a <see cref="ModelManifest"/> for a reference model package.</summary>
public static class ManifestFactory
{
    /// <summary>Bumped when the builder changes what a given config produces (2: MLP heads read the
    /// stream entering the exit block, so thresholds calibrated under revision 1 are stale).</summary>
    public const string BuilderRevision = "3";

    public static ModelManifest Create(ReferenceModelConfig config)
    {
        config.Validate();
        var manifest = new ModelManifest
        {
            ModelId = config.Name,
            // Different seeds are different models: the version names the seed.
            ModelVersion = $"seed-{config.Seed.ToString(CultureInfo.InvariantCulture)}",
            HeadKind = config.HeadKind,
            LanguageModel = new LanguageModelSpec
            {
                Layers = config.LmLayers,
                Hidden = config.Hidden,
                KvHeads = config.KvHeads,
                HeadDim = config.HeadDim,
                SequenceLength = config.SequenceLength,
            },
            Exits = new ExitSpec { Interval = config.ExitInterval, Layers = [.. config.ExitLayers()] },
            Action = new ActionSpec
            {
                Chunk = config.Chunk,
                Dim = config.ActionDim,
                PaddingDims = [.. config.PaddingDims.Order()],
                Q01 = [.. config.ActionQ01],
                Q99 = [.. config.ActionQ99],
            },
            State = new StateSpec { Dim = config.StateDim, Q01 = [.. config.StateQ01], Q99 = [.. config.StateQ99] },
            Cameras = config.Cameras
                .Select(name => new CameraSpec { Name = name, Height = config.ImageSize, Width = config.ImageSize, Tokens = config.PatchesPerCamera })
                .ToList(),
            Tokenizer = new TokenizerSpec
            {
                Kind = "word-vocab",
                MaxTokens = config.MaxTokens,
                PadId = 0,
                UnknownId = 1,
                Vocabulary = [.. config.Vocabulary],
            },
            Defaults = new DefaultsSpec { Metric = "cosine", DenoisingSteps = 2, WarmStart = true },
            Files = Files(config),
            SampleData = config.SampleEpisodes * config.SampleFramesPerEpisode > 0 ? PackageFiles.Samples : null,
            Provenance = Provenance(config),
        };
        if (config.IsFlowMatching)
        {
            manifest.FlowMatching = new FlowMatchingSpec
            {
                ExpertLayers = config.LmLayers,
                ExpertHidden = config.ExpertHidden,
                SuffixTokens = config.SuffixTokens,
            };
        }
        else
        {
            manifest.MlpHead = new MlpHeadSpec { QueryTokens = config.ActionQueries, Reads = MlpHeadSpec.BlockInput };
        }

        return manifest;
    }

    private static ModelFiles Files(ReferenceModelConfig config)
    {
        var files = new ModelFiles
        {
            Prefix = PackageFiles.Prefix,
            LanguageModelLayers = Enumerable.Range(0, config.LmLayers).Select(PackageFiles.LmLayer).ToList(),
            PrefixStages = Enumerable.Range(0, PrefixGraph.Stages(config)).Select(PackageFiles.PrefixStage).ToList(),
        };
        if (config.IsFlowMatching)
        {
            files.ExpertSuffix = PackageFiles.ExpertSuffix;
            files.ExpertLayers = Enumerable.Range(0, config.LmLayers).Select(PackageFiles.ExpertLayer).ToList();
            files.ExpertOutput = PackageFiles.ExpertOut;
        }
        else
        {
            files.MlpHead = PackageFiles.MlpHead;
        }

        return files;
    }

    private static Dictionary<string, string> Provenance(ReferenceModelConfig config) => new()
    {
        ["builder"] = Onnx.OnnxModelWriter.ProducerName,
        ["builderRevision"] = BuilderRevision,
        ["preset"] = config.Name,
        ["seed"] = config.Seed.ToString(CultureInfo.InvariantCulture),
        ["weights"] = "random: per-tensor xoshiro256** stream seeded by (seed, tensor name), Box-Muller normals",
        ["config"] = JsonSerializer.Serialize(config, CompactJson),
    };

    private static readonly JsonSerializerOptions CompactJson = new(ReferenceModelJson.Options) { WriteIndented = false };
}
