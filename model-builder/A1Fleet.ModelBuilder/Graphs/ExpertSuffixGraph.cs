using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// expert_suffix.onnx: noisy_actions [B,H,A], time [B], state [B,Sd] -> suffix_hidden [B,1+H,De]:
/// a state token, then H action tokens SiLU-MLP(x_t embedding, time embedding), plus positions.
/// </summary>
public static class ExpertSuffixGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights)
    {
        var c = weights.Config;
        var writer = new OnnxModelWriter("expert_suffix", "FM expert suffix embedding: state token and action tokens.");
        var layers = new GraphLayers(writer, weights);
        int de = c.ExpertHidden;

        string noisy = writer.Input(GraphIo.NoisyActions, DataType.Float, OnnxDim.Batch, c.Chunk, c.ActionDim);
        string time = writer.Input(GraphIo.Time, DataType.Float, OnnxDim.Batch);
        string state = writer.Input(GraphIo.State, DataType.Float, OnnxDim.Batch, c.StateDim);

        string stateToken = writer.Unsqueeze(layers.Linear(state, ExpertStateEmbedding), 1);
        string actionEmbedding = layers.Linear(noisy, ExpertActionEmbedding);

        float[] frequencies = SuffixConstants.TimeFrequencies(de);
        string angles = writer.Mul(writer.Unsqueeze(time, 1), writer.Constant(frequencies, frequencies.Length));
        string timeEmbedding = writer.Concat(1, writer.Sin(angles), writer.Cos(angles));

        // Linear(2De -> De) on concat(h, temb) with its weight split in two: the time half is computed
        // once per batch row and broadcast over the H action tokens instead of concatenating copies.
        string timeTerm = writer.Unsqueeze(writer.MatMul(timeEmbedding, layers.Tensor(Weight(ExpertActionTimeMixTime))), 1);
        string mixed = writer.Add(layers.Linear(actionEmbedding, ExpertActionTimeMixAction), timeTerm);
        string actionTokens = layers.Linear(layers.SiLU(mixed), ExpertActionTimeOut);

        string suffix = writer.Add(writer.Concat(1, stateToken, actionTokens), layers.Tensor(ExpertPosition));
        writer.Output(suffix, GraphIo.SuffixHidden, DataType.Float, OnnxDim.Batch, c.SuffixTokens, de);
        return writer;
    }
}
