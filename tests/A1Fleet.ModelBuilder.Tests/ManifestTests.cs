using System.Text.Json;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Tests.Support;
using A1Fleet.ModelFormat;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace A1Fleet.ModelBuilder.Tests;

/// <summary>model.json agrees with the config and with the graphs that ONNX Runtime loads.</summary>
public sealed class ManifestTests
{
    private readonly BuiltPackage fm = TinyPackages.Fm;
    private readonly BuiltPackage mlp = TinyPackages.Mlp;

    [Fact]
    public void Manifest_TinyFm_FieldsMatchConfig()
    {
        var manifest = Load(fm);
        Assert.Equal((ModelManifest.FormatName, ModelManifest.CurrentFormatVersion), (manifest.Format, manifest.FormatVersion));
        Assert.Equal(("tiny-fm", "seed-1", HeadKinds.FlowMatching), (manifest.ModelId, manifest.ModelVersion, manifest.HeadKind));
        Assert.Equal((6, 32, 2, 16, 13), (manifest.LanguageModel.Layers, manifest.LanguageModel.Hidden, manifest.LanguageModel.KvHeads,
            manifest.LanguageModel.HeadDim, manifest.LanguageModel.SequenceLength));
        Assert.Equal(2, manifest.Exits.Interval);
        Assert.Equal([1, 3, 5], manifest.Exits.Layers);
        Assert.Equal((4, 8), (manifest.Action.Chunk, manifest.Action.Dim));
        Assert.Equal([6, 7], manifest.Action.PaddingDims);
        Assert.Equal((8, 8), (manifest.Action.Q01.Length, manifest.Action.Q99.Length));
        Assert.Equal((6, 6, 6), (manifest.State.Dim, manifest.State.Q01.Length, manifest.State.Q99.Length));
        var camera = Assert.Single(manifest.Cameras);
        Assert.Equal(("front", 16, 16, 4), (camera.Name, camera.Height, camera.Width, camera.Tokens));
        Assert.Equal(("word-vocab", 8, 0, 1), (manifest.Tokenizer.Kind, manifest.Tokenizer.MaxTokens, manifest.Tokenizer.PadId, manifest.Tokenizer.UnknownId));
        Assert.Equal(ManipulationVocabulary.Words, manifest.Tokenizer.Vocabulary);
        Assert.Equal(("cosine", 2, true), (manifest.Defaults.Metric, manifest.Defaults.DenoisingSteps, manifest.Defaults.WarmStart));
        Assert.NotNull(manifest.FlowMatching);
        Assert.Equal((6, 32, 5), (manifest.FlowMatching.ExpertLayers, manifest.FlowMatching.ExpertHidden, manifest.FlowMatching.SuffixTokens));
        Assert.Null(manifest.MlpHead);
        Assert.Equal(PackageFiles.Samples, manifest.SampleData);
        Assert.Empty(manifest.ThresholdSets);
    }

    [Fact]
    public void Manifest_TinyMlp_HasQueryTokensAndNoExpert()
    {
        var manifest = Load(mlp);
        Assert.Equal(HeadKinds.Mlp, manifest.HeadKind);
        Assert.Equal(24, manifest.MlpHead?.QueryTokens);
        Assert.Equal(MlpHeadSpec.BlockInput, manifest.MlpHead?.Reads);
        Assert.Null(manifest.FlowMatching);
        Assert.Equal(PackageFiles.MlpHead, manifest.Files.MlpHead);
        Assert.Empty(manifest.Files.ExpertLayers);
        Assert.Null(manifest.Files.ExpertSuffix);
        Assert.Empty(manifest.Action.PaddingDims);
    }

    [Fact]
    public void Provenance_TinyFm_ConfigJsonRecreatesTheConfig()
    {
        var manifest = Load(fm);
        Assert.Equal("1", manifest.Provenance["seed"]);
        var config = JsonSerializer.Deserialize<ReferenceModelConfig>(manifest.Provenance["config"], ReferenceModelJson.Options);
        Assert.NotNull(config);
        Assert.Equal(ReferenceModelJson.Serialize(fm.Config), ReferenceModelJson.Serialize(config));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Files_EveryListedGraph_ExistsAndHasManifestShapes(bool flowMatching)
    {
        var package = flowMatching ? fm : mlp;
        var m = Load(package);
        int n = m.LanguageModel.SequenceLength;
        int d = m.LanguageModel.Hidden;
        long[] kv = [m.LanguageModel.KvHeads, n, m.LanguageModel.HeadDim];
        int cameras = m.Cameras.Count;
        int side = m.Cameras[0].Height;

        AssertShapes(package.File(m.Files.Prefix),
            inputs: [(GraphIo.Images, [cameras, 3, side, side]), (GraphIo.TokenIds, [m.Tokenizer.MaxTokens]), (GraphIo.State, [m.State.Dim])],
            outputs: [(GraphIo.Hidden, [n, d])]);
        Assert.Equal(m.LanguageModel.Layers, m.Files.LanguageModelLayers.Count);
        foreach (string layer in m.Files.LanguageModelLayers)
        {
            AssertShapes(package.File(layer),
                inputs: [(GraphIo.Hidden, [n, d]), (GraphIo.AttentionBias, [n])],
                outputs: [(GraphIo.HiddenOut, [n, d]), (GraphIo.Key, kv), (GraphIo.Value, kv)]);
        }

        long[] chunk = [m.Action.Chunk, m.Action.Dim];
        if (!flowMatching)
        {
            AssertShapes(package.File(m.Files.MlpHead!), inputs: [(GraphIo.Hidden, [n, d])], outputs: [(GraphIo.Actions, chunk)]);
            return;
        }

        long[] suffix = [m.FlowMatching!.SuffixTokens, m.FlowMatching.ExpertHidden];
        AssertShapes(package.File(m.Files.ExpertSuffix!),
            inputs: [(GraphIo.NoisyActions, chunk), (GraphIo.Time, []), (GraphIo.State, [m.State.Dim])],
            outputs: [(GraphIo.SuffixHidden, suffix)]);
        Assert.Equal(m.FlowMatching.ExpertLayers, m.Files.ExpertLayers.Count);
        foreach (string layer in m.Files.ExpertLayers)
        {
            AssertShapes(package.File(layer),
                inputs: [(GraphIo.SuffixHidden, suffix), (GraphIo.PrefixKey, kv), (GraphIo.PrefixValue, kv), (GraphIo.AttentionBias, [n])],
                outputs: [(GraphIo.SuffixHiddenOut, suffix)]);
        }

        AssertShapes(package.File(m.Files.ExpertOutput!), inputs: [(GraphIo.SuffixHidden, suffix)], outputs: [(GraphIo.Velocity, chunk)]);
    }

    [Fact]
    public void Result_TinyFm_ListsEveryWrittenFileWithItsSize()
    {
        Assert.All(fm.Result.Files, file => Assert.Equal(new FileInfo(fm.File(file.Name)).Length, file.Bytes));
        Assert.Equal(6 + 6 + 3 + 2, fm.Result.Files.Count);
    }

    private static ModelManifest Load(BuiltPackage package)
    {
        string json = File.ReadAllText(package.File(PackageFiles.Manifest));
        Assert.Contains("\"sequenceLength\": ", json, StringComparison.Ordinal);
        return JsonSerializer.Deserialize<ModelManifest>(json, ReferenceModelJson.Options) ?? throw new InvalidDataException("empty manifest");
    }

    /// <summary>Each named value is [batch, dims...] with a symbolic "batch" first dim; inputs and outputs are exactly those listed.</summary>
    private static void AssertShapes(string path, (string Name, long[] Dims)[] inputs, (string Name, long[] Dims)[] outputs)
    {
        using var session = new InferenceSession(path);
        AssertMetadata(session.InputMetadata, inputs, path);
        AssertMetadata(session.OutputMetadata, outputs, path);
    }

    private static void AssertMetadata(IReadOnlyDictionary<string, NodeMetadata> metadata, (string Name, long[] Dims)[] expected, string path)
    {
        Assert.Equal(expected.Select(e => e.Name).Order(), metadata.Keys.Order());
        foreach (var (name, dims) in expected)
        {
            var node = metadata[name];
            Assert.Equal([-1, .. dims.Select(d => (int)d)], node.Dimensions);
            Assert.Equal("batch", node.SymbolicDimensions[0]);
            Assert.Equal(name == GraphIo.TokenIds ? TensorElementType.Int64 : TensorElementType.Float, node.ElementDataType);
        }
    }
}
