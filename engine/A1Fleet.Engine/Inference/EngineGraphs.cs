using A1Fleet.Engine.Onnx;
using A1Fleet.ModelFormat;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace A1Fleet.Engine.Inference;

/// <summary>The package's graphs, checked against the manifest at load, with their bindings to <see cref="EngineBuffers"/>.</summary>
internal sealed class EngineGraphs : IDisposable
{
    private const TensorElementType F32 = TensorElementType.Float;

    private EngineGraphs(OnnxGraph prefix, OnnxGraph[] prefixStages, OnnxGraph[] lm, OnnxGraph? mlpHead, OnnxGraph? suffix, OnnxGraph[] expert, OnnxGraph? output)
    {
        Prefix = prefix;
        PrefixStages = prefixStages;
        LanguageModel = lm;
        MlpHead = mlpHead;
        ExpertSuffix = suffix;
        ExpertLayers = expert;
        ExpertOutput = output;
    }

    public OnnxGraph Prefix { get; }

    /// <summary>The prefix split at its vision blocks (<see cref="ModelFiles.PrefixStages"/>); empty: it runs whole.</summary>
    public OnnxGraph[] PrefixStages { get; }
    public OnnxGraph[] LanguageModel { get; }
    public OnnxGraph? MlpHead { get; }
    public OnnxGraph? ExpertSuffix { get; }
    public OnnxGraph[] ExpertLayers { get; }
    public OnnxGraph? ExpertOutput { get; }

    /// <param name="inputsCopiedAtBind">The execution provider is not the CPU: bound host inputs are copied at binding time.</param>
    public static EngineGraphs Load(ModelPackage package, ModelDims d, SessionOptions options, bool inputsCopiedAtBind = false)
    {
        var files = package.Manifest.Files;
        var opened = new List<OnnxGraph>();
        OnnxGraph Open(string relative)
        {
            var graph = new OnnxGraph(package.PathOf(relative), options, inputsCopiedAtBind);
            opened.Add(graph);
            return graph;
        }

        try
        {
            long B = -1, N = d.SequenceLength;
            var hidden = new TensorSignature("hidden", F32, [B, N, d.Hidden]);
            var bias = new TensorSignature("attn_bias", F32, [B, N]);
            var kv = new long[] { B, d.KvHeads, N, d.HeadDim };

            var prefix = Open(files.Prefix);
            prefix.Expect(
                [new("images", F32, [B, d.Cameras, 3, d.ImageHeight, d.ImageWidth]), new("token_ids", TensorElementType.Int64, [B, d.MaxTokens]), new("state", F32, [B, d.StateDim])],
                [hidden]);

            var vision = new long[] { B, d.ImageTokens, d.Hidden };
            var stages = files.PrefixStages.Select((f, k) =>
            {
                var g = Open(f);
                var last = k == files.PrefixStages.Count - 1;
                var input = k == 0
                    ? new TensorSignature("images", F32, [B, d.Cameras, 3, d.ImageHeight, d.ImageWidth])
                    : new TensorSignature("vision", F32, vision);
                g.Expect(
                    last ? [input, new("token_ids", TensorElementType.Int64, [B, d.MaxTokens]), new("state", F32, [B, d.StateDim])] : [input],
                    [last ? hidden : new TensorSignature("vision_out", F32, vision)]);
                return g;
            }).ToArray();

            var lm = files.LanguageModelLayers.Select(f =>
            {
                var g = Open(f);
                g.Expect([hidden, bias], [new("hidden_out", F32, [B, N, d.Hidden]), new("key", F32, kv), new("value", F32, kv)]);
                return g;
            }).ToArray();

            var actions = new long[] { B, d.Chunk, d.ActionDim };
            if (!d.IsFlowMatching)
            {
                var head = Open(files.MlpHead!);
                head.Expect([hidden], [new("actions", F32, actions)]);
                return new EngineGraphs(prefix, stages, lm, head, null, [], null);
            }

            var suffixShape = new long[] { B, d.SuffixTokens, d.ExpertHidden };
            var suffix = Open(files.ExpertSuffix!);
            suffix.Expect(
                [new("noisy_actions", F32, actions), new("time", F32, [B]), new("state", F32, [B, d.StateDim])],
                [new("suffix_hidden", F32, suffixShape)]);
            var expert = files.ExpertLayers.Select(f =>
            {
                var g = Open(f);
                g.Expect(
                    [new("suffix_hidden", F32, suffixShape), new("prefix_key", F32, kv), new("prefix_value", F32, kv), bias],
                    [new("suffix_hidden_out", F32, suffixShape)]);
                return g;
            }).ToArray();
            var output = Open(files.ExpertOutput!);
            output.Expect([new("suffix_hidden", F32, suffixShape)], [new("velocity", F32, actions)]);
            return new EngineGraphs(prefix, stages, lm, null, suffix, expert, output);
        }
        catch
        {
            foreach (var g in opened)
            {
                g.Dispose();
            }

            throw;
        }
    }

    public OrtIoBinding PrefixBinding(EngineBuffers b, int rows) =>
        Prefix.CachedBinding(b.BindingKey(rows)) ?? Prefix.Bind(b.BindingKey(rows),
            [("images", b.Images.View(rows)), ("token_ids", b.TokenIds.View(rows)), ("state", b.State.View(rows))],
            [("hidden", b.Hidden[0].View(rows))]);

    /// <summary>Stage <paramref name="stage"/> of the split prefix: the first reads the images, a later one the vision tokens the stage before wrote; the last writes the stream layer 0 reads.</summary>
    public OrtIoBinding PrefixStageBinding(EngineBuffers b, int stage, int rows)
    {
        var graph = PrefixStages[stage];
        if (graph.CachedBinding(b.BindingKey(rows)) is { } cached)
        {
            return cached;
        }

        var input = stage == 0 ? ("images", b.Images.View(rows)) : ("vision", b.Vision[(stage - 1) % 2].View(rows));
        return stage == PrefixStages.Length - 1
            ? graph.Bind(b.BindingKey(rows), [input, ("token_ids", b.TokenIds.View(rows)), ("state", b.State.View(rows))], [("hidden", b.Hidden[0].View(rows))])
            : graph.Bind(b.BindingKey(rows), [input], [("vision_out", b.Vision[stage % 2].View(rows))]);
    }

    public OrtIoBinding LanguageModelBinding(EngineBuffers b, int layer, int rows)
    {
        var graph = LanguageModel[layer];
        if (graph.CachedBinding(b.BindingKey(rows)) is { } cached)
        {
            return cached;
        }

        var inputs = new[] { ("hidden", b.Hidden[layer % 2].View(rows)), ("attn_bias", b.AttentionBias.View(rows)) };
        // MLP heads never read K/V, so those outputs stay unbound and ONNX Runtime skips copying them out.
        return b.Keys.Length == 0
            ? graph.Bind(b.BindingKey(rows), inputs, [("hidden_out", b.HiddenAfter(layer).View(rows))])
            : graph.Bind(b.BindingKey(rows), inputs, [("hidden_out", b.HiddenAfter(layer).View(rows)), ("key", b.Keys[layer].View(rows)), ("value", b.Values[layer].View(rows))]);
    }

    /// <summary>The head at exit <paramref name="layer"/> reads the stream entering that block (A1's
    /// <c>all_hidden_states[layer]</c>), which is still intact after the block ran: it wrote the other buffer.</summary>
    public OrtIoBinding MlpHeadBinding(EngineBuffers b, int layer, int rows)
    {
        var key = b.BindingKey((rows * 2) + (layer % 2));
        return MlpHead!.CachedBinding(key) ?? MlpHead.Bind(key,
            [("hidden", b.HiddenBefore(layer).View(rows))],
            [("actions", b.HeadActions.View(rows))]);
    }

    public OrtIoBinding ExpertSuffixBinding(EngineBuffers b, int rows) =>
        ExpertSuffix!.CachedBinding(b.BindingKey(rows)) ?? ExpertSuffix.Bind(b.BindingKey(rows),
            [("noisy_actions", b.NoisyActions.View(rows)), ("time", b.Time.View(rows)), ("state", b.State.View(rows))],
            [("suffix_hidden", b.Suffix[0].View(rows))]);

    public OrtIoBinding ExpertLayerBinding(EngineBuffers b, int layer, int rows)
    {
        var graph = ExpertLayers[layer];
        return graph.CachedBinding(b.BindingKey(rows)) ?? graph.Bind(b.BindingKey(rows),
            [("suffix_hidden", b.Suffix[layer % 2].View(rows)), ("prefix_key", b.Keys[layer].View(rows)), ("prefix_value", b.Values[layer].View(rows)), ("attn_bias", b.AttentionBias.View(rows))],
            [("suffix_hidden_out", b.Suffix[(layer + 1) % 2].View(rows))]);
    }

    /// <param name="expertLayersRun">How many expert layers ran this step: their output sits in <c>Suffix[n % 2]</c>.</param>
    public OrtIoBinding ExpertOutputBinding(EngineBuffers b, int expertLayersRun, int rows)
    {
        var key = b.BindingKey((rows * 2) + (expertLayersRun % 2));
        return ExpertOutput!.CachedBinding(key) ?? ExpertOutput.Bind(key,
            [("suffix_hidden", b.Suffix[expertLayersRun % 2].View(rows))],
            [("velocity", b.Velocity.View(rows))]);
    }

    /// <summary>Drops (and disposes) every binding made for <paramref name="b"/>, a set about to be disposed.</summary>
    public void ForgetBindings(EngineBuffers b)
    {
        foreach (var graph in new[] { Prefix, MlpHead, ExpertSuffix, ExpertOutput }.Concat(PrefixStages).Concat(LanguageModel).Concat(ExpertLayers))
        {
            graph?.ForgetBindings(key => key / EngineBuffers.KeysPerSlot == b.Slot);
        }
    }

    public void Dispose()
    {
        Prefix.Dispose();
        foreach (var g in PrefixStages.Concat(LanguageModel).Concat(ExpertLayers))
        {
            g.Dispose();
        }

        MlpHead?.Dispose();
        ExpertSuffix?.Dispose();
        ExpertOutput?.Dispose();
    }
}
