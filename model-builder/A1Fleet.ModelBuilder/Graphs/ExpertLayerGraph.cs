using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// expert_layer_NN.onnx: suffix_hidden [B,S_f,De], prefix_key/prefix_value [B,Hkv,N,hd] (from LM
/// layer NN), attn_bias [B,N] -> suffix_hidden_out [B,S_f,De]. The suffix attends to the whole valid
/// prefix and causally to itself, in one softmax over both.
/// </summary>
public static class ExpertLayerGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights, int layer)
    {
        var c = weights.Config;
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, c.LmLayers);
        var writer = new OnnxModelWriter($"expert_layer_{layer:D2}", $"FM expert block {layer}, attending to LM layer {layer}'s keys and values.");
        var layers = new GraphLayers(writer, weights);
        string block = ExpertBlock(layer);
        int n = c.SequenceLength;
        int suffixTokens = c.SuffixTokens;

        string x = writer.Input(GraphIo.SuffixHidden, DataType.Float, OnnxDim.Batch, suffixTokens, c.ExpertHidden);
        string prefixKey = writer.Input(GraphIo.PrefixKey, DataType.Float, OnnxDim.Batch, c.KvHeads, n, c.HeadDim);
        string prefixValue = writer.Input(GraphIo.PrefixValue, DataType.Float, OnnxDim.Batch, c.KvHeads, n, c.HeadDim);
        string bias = writer.Input(GraphIo.AttentionBias, DataType.Float, OnnxDim.Batch, n);

        string normed = layers.LayerNorm(x, Norm1(block));
        string q = layers.SplitHeads(layers.Linear(normed, Query(block)), suffixTokens);
        string k = layers.SplitHeads(layers.Linear(normed, Key(block)), suffixTokens);
        string v = layers.SplitHeads(layers.Linear(normed, Value(block)), suffixTokens);

        string prefixScores = writer.Add(layers.Scores(q, prefixKey), layers.KeyBias(bias));
        string causal = writer.Constant(SuffixConstants.CausalMask(suffixTokens), 1, 1, suffixTokens, suffixTokens);
        string suffixScores = writer.Add(layers.Scores(q, k), causal);

        // One softmax over prefix and suffix keys together, then split back to weight each value set.
        string probabilities = writer.Softmax(writer.Concat(-1, prefixScores, suffixScores));
        string prefixProbabilities = writer.Slice(probabilities, [0], [n], [3]);
        string suffixProbabilities = writer.Slice(probabilities, [n], [n + suffixTokens], [3]);
        string context = writer.Add(writer.MatMul(prefixProbabilities, prefixValue), writer.MatMul(suffixProbabilities, v));

        string afterAttention = writer.Add(x, layers.Linear(layers.MergeHeads(context, suffixTokens), AttentionOut(block)));
        string output = writer.Add(afterAttention, layers.SwiGlu(layers.LayerNorm(afterAttention, Norm2(block)), block));
        writer.Output(output, GraphIo.SuffixHiddenOut, DataType.Float, OnnxDim.Batch, suffixTokens, c.ExpertHidden);
        return writer;
    }
}
