using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Oracle;

namespace A1Fleet.ModelBuilder.Tests.Support;

/// <summary>Runs one graph file on ONNX Runtime with random inputs and holds every output to the oracle.</summary>
internal static class GraphChecks
{
    private const int B = RandomInputs.Batch;

    public static void Prefix(string path, ReferenceOracle oracle, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] images = inputs.Images();
        long[] tokenIds = inputs.TokenIds();
        float[] state = inputs.State();
        var outputs = OnnxRunner.Run(path,
            new(GraphIo.Images, images, [B, c.Cameras.Count, 3, c.ImageSize, c.ImageSize]),
            new(GraphIo.TokenIds, tokenIds, [B, c.MaxTokens]),
            new(GraphIo.State, state, [B, c.StateDim]));
        Close.Assert(oracle.Prefix(images, tokenIds, state), outputs[GraphIo.Hidden], [B, c.SequenceLength, c.Hidden], GraphIo.Hidden);
    }

    /// <summary>The prefix split at its vision blocks (<see cref="PrefixGraph.BuildStage"/>), each stage fed what the one before wrote, ends where the whole prefix does.</summary>
    public static void PrefixStages(IReadOnlyList<string> paths, ReferenceOracle oracle, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] images = inputs.Images();
        long[] tokenIds = inputs.TokenIds();
        float[] state = inputs.State();
        long[] visionShape = [B, c.ImageTokens, c.Hidden];
        var vision = OnnxRunner.Run(paths[0], new NamedInput(GraphIo.Images, images, [B, c.Cameras.Count, 3, c.ImageSize, c.ImageSize]))[GraphIo.VisionOut];
        Xunit.Assert.Equal(visionShape, vision.Shape);
        for (int stage = 1; stage < paths.Count - 1; stage++)
        {
            vision = OnnxRunner.Run(paths[stage], new NamedInput(GraphIo.Vision, vision.Data, visionShape))[GraphIo.VisionOut];
        }

        var outputs = OnnxRunner.Run(paths[^1],
            new(GraphIo.Vision, vision.Data, visionShape),
            new(GraphIo.TokenIds, tokenIds, [B, c.MaxTokens]),
            new(GraphIo.State, state, [B, c.StateDim]));
        Close.Assert(oracle.Prefix(images, tokenIds, state), outputs[GraphIo.Hidden], [B, c.SequenceLength, c.Hidden], $"{GraphIo.Hidden} after {paths.Count} prefix stages");
    }

    public static void LmLayer(string path, ReferenceOracle oracle, int layer, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] hidden = inputs.Hidden();
        float[] bias = inputs.AttentionBias();
        var outputs = OnnxRunner.Run(path,
            new(GraphIo.Hidden, hidden, [B, c.SequenceLength, c.Hidden]),
            new(GraphIo.AttentionBias, bias, [B, c.SequenceLength]));
        var expected = oracle.LmLayer(layer, hidden, bias);
        long[] kvShape = [B, c.KvHeads, c.SequenceLength, c.HeadDim];
        Close.Assert(expected.Hidden, outputs[GraphIo.HiddenOut], [B, c.SequenceLength, c.Hidden], $"layer {layer} {GraphIo.HiddenOut}");
        Close.Assert(expected.Key, outputs[GraphIo.Key], kvShape, $"layer {layer} {GraphIo.Key}");
        Close.Assert(expected.Value, outputs[GraphIo.Value], kvShape, $"layer {layer} {GraphIo.Value}");
    }

    public static void MlpHead(string path, ReferenceOracle oracle, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] hidden = inputs.Hidden();
        var outputs = OnnxRunner.Run(path, new NamedInput(GraphIo.Hidden, hidden, [B, c.SequenceLength, c.Hidden]));
        Close.Assert(oracle.MlpHead(hidden), outputs[GraphIo.Actions], [B, c.Chunk, c.ActionDim], GraphIo.Actions);
    }

    public static void ExpertSuffix(string path, ReferenceOracle oracle, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] noisy = inputs.Gaussian(B * c.Chunk * c.ActionDim);
        // t = 1 (pure noise, the first Euler step) and an interior time.
        float[] time = [1f, 0.37f];
        float[] state = inputs.State();
        var outputs = OnnxRunner.Run(path,
            new(GraphIo.NoisyActions, noisy, [B, c.Chunk, c.ActionDim]),
            new(GraphIo.Time, time, [B]),
            new(GraphIo.State, state, [B, c.StateDim]));
        Close.Assert(oracle.ExpertSuffix(noisy, time, state), outputs[GraphIo.SuffixHidden], [B, c.SuffixTokens, c.ExpertHidden], GraphIo.SuffixHidden);
    }

    public static void ExpertLayer(string path, ReferenceOracle oracle, int layer, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] suffix = inputs.SuffixHidden();
        float[] key = inputs.PrefixKeyOrValue();
        float[] value = inputs.PrefixKeyOrValue();
        float[] bias = inputs.AttentionBias();
        long[] kvShape = [B, c.KvHeads, c.SequenceLength, c.HeadDim];
        var outputs = OnnxRunner.Run(path,
            new(GraphIo.SuffixHidden, suffix, [B, c.SuffixTokens, c.ExpertHidden]),
            new(GraphIo.PrefixKey, key, kvShape),
            new(GraphIo.PrefixValue, value, kvShape),
            new(GraphIo.AttentionBias, bias, [B, c.SequenceLength]));
        Close.Assert(oracle.ExpertLayer(layer, suffix, key, value, bias), outputs[GraphIo.SuffixHiddenOut],
            [B, c.SuffixTokens, c.ExpertHidden], $"expert layer {layer} {GraphIo.SuffixHiddenOut}");
    }

    public static void ExpertOut(string path, ReferenceOracle oracle, RandomInputs inputs)
    {
        var c = oracle.Config;
        float[] suffix = inputs.SuffixHidden();
        var outputs = OnnxRunner.Run(path, new NamedInput(GraphIo.SuffixHidden, suffix, [B, c.SuffixTokens, c.ExpertHidden]));
        Close.Assert(oracle.ExpertOut(suffix), outputs[GraphIo.Velocity], [B, c.Chunk, c.ActionDim], GraphIo.Velocity);
    }
}
