using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// mlp_head.onnx: hidden [B,N,D] (the residual stream entering an exit block) -> actions [B,H,A]. The last
/// Q = H*A positions are the action queries, query h*A + a; each chunk step sees its A queries
/// concatenated, (B, H, A*D), through an MLP-ResNet.
/// </summary>
public static class MlpHeadGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights)
    {
        var c = weights.Config;
        var writer = new OnnxModelWriter("mlp_head", "MLP-ResNet action head over the action query tokens.");
        var layers = new GraphLayers(writer, weights);
        int n = c.SequenceLength;

        string hidden = writer.Input(GraphIo.Hidden, DataType.Float, OnnxDim.Batch, n, c.Hidden);
        string queries = writer.Slice(hidden, [n - c.ActionQueries], [n], [1]);
        string perStep = writer.Reshape(queries, 0, c.Chunk, c.ActionDim * c.Hidden);
        string x = writer.Relu(layers.Linear(layers.LayerNorm(perStep, HeadInputNorm), HeadInput));
        for (int block = 0; block < HeadResidualBlocks; block++)
        {
            x = layers.ResidualBlock(x, HeadResidual(block));
        }

        string actions = layers.Linear(layers.LayerNorm(x, HeadOutputNorm), HeadOutput);
        writer.Output(actions, GraphIo.Actions, DataType.Float, OnnxDim.Batch, c.Chunk, c.ActionDim);
        return writer;
    }
}
