using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>expert_out.onnx: suffix_hidden [B,S_f,De] -> velocity [B,H,A], an MLP-ResNet on the action tokens.</summary>
public static class ExpertOutGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights)
    {
        var c = weights.Config;
        var writer = new OnnxModelWriter("expert_out", "FM expert output MLP producing the flow velocity.");
        var layers = new GraphLayers(writer, weights);

        string suffix = writer.Input(GraphIo.SuffixHidden, DataType.Float, OnnxDim.Batch, c.SuffixTokens, c.ExpertHidden);
        string actionTokens = writer.Slice(suffix, [1], [c.SuffixTokens], [1]);
        string x = writer.Relu(layers.Linear(layers.LayerNorm(actionTokens, ExpertOutInputNorm), ExpertOutInput));
        for (int block = 0; block < ExpertOutResidualBlocks; block++)
        {
            x = layers.ResidualBlock(x, ExpertOutResidual(block));
        }

        string velocity = layers.Linear(layers.LayerNorm(x, ExpertOutOutputNorm), ExpertOutOutput);
        writer.Output(velocity, GraphIo.Velocity, DataType.Float, OnnxDim.Batch, c.Chunk, c.ActionDim);
        return writer;
    }
}
