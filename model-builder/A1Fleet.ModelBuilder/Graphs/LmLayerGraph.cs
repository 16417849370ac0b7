using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// lm_layer_NN.onnx: hidden [B,N,D], attn_bias [B,N] -> hidden_out [B,N,D], key and value [B,Hkv,N,hd]
/// (the K/V this layer computed from its input, which FM expert layer NN attends to).
/// </summary>
public static class LmLayerGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights, int layer)
    {
        var c = weights.Config;
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, c.LmLayers);
        var writer = new OnnxModelWriter($"lm_layer_{layer:D2}", $"Language-model block {layer} of the A1 reference model.");
        var layers = new GraphLayers(writer, weights);
        int n = c.SequenceLength;

        string hidden = writer.Input(GraphIo.Hidden, DataType.Float, OnnxDim.Batch, n, c.Hidden);
        string bias = writer.Input(GraphIo.AttentionBias, DataType.Float, OnnxDim.Batch, n);
        var (output, key, value) = layers.EncoderBlock(hidden, WeightNames.LmBlock(layer), n, layers.KeyBias(bias));

        writer.Output(output, GraphIo.HiddenOut, DataType.Float, OnnxDim.Batch, n, c.Hidden);
        writer.Output(key, GraphIo.Key, DataType.Float, OnnxDim.Batch, c.KvHeads, n, c.HeadDim);
        writer.Output(value, GraphIo.Value, DataType.Float, OnnxDim.Batch, c.KvHeads, n, c.HeadDim);
        return writer;
    }
}
