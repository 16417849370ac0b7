using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// prefix.onnx: images [B,C,3,S,S], token_ids int64 [B,T], state [B,Sd] -> hidden [B,N,D].
/// Tokens in order: camera patches (row-major per camera), state, instruction, action queries (MLP).
/// </summary>
public static class PrefixGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights)
    {
        var c = weights.Config;
        var writer = new OnnxModelWriter("prefix", "Vision tower, state and instruction embeddings of the A1 reference model.");
        var layers = new GraphLayers(writer, weights);
        int cameras = c.Cameras.Count;
        int side = c.PatchesPerSide;

        string images = writer.Input(GraphIo.Images, DataType.Float, OnnxDim.Batch, cameras, 3, c.ImageSize, c.ImageSize);
        string tokenIds = writer.Input(GraphIo.TokenIds, DataType.Int64, OnnxDim.Batch, c.MaxTokens);
        string state = writer.Input(GraphIo.State, DataType.Float, OnnxDim.Batch, c.StateDim);

        // [B,C,3,S,S] -> [B,C,3,rows,P,cols,P] -> [B,C,rows,cols,3,P,P] -> [B, C*Pc, 3*P*P]:
        // patch vectors in (channel, row-in-patch, col-in-patch) order.
        string blocks = writer.Reshape(images, 0, cameras, 3, side, c.Patch, side, c.Patch);
        string patches = writer.Reshape(writer.Transpose(blocks, 0, 1, 3, 5, 2, 4, 6), 0, c.ImageTokens, c.PatchVectorSize);
        string vision = writer.Add(layers.Linear(patches, PatchEmbedding), layers.Tensor(ImagePosition));
        for (int layer = 0; layer < c.VisionLayers; layer++)
        {
            vision = layers.EncoderBlock(vision, VisionBlock(layer), c.ImageTokens, keyBias: null).Hidden;
        }

        string stateToken = writer.Unsqueeze(layers.Linear(state, StateEmbedding), 1);
        string instruction = writer.Add(writer.Gather(layers.Tensor(TokenEmbedding), tokenIds), layers.Tensor(TokenPosition));
        var parts = new List<string> { vision, stateToken, instruction };
        if (!c.IsFlowMatching)
        {
            // Learned queries [Q,D] broadcast to [B,Q,D]; the batch size comes from the state input.
            string shape = writer.Concat(0, writer.Shape(state, 0, 1), writer.Int64s(c.ActionQueries, c.Hidden));
            parts.Add(writer.Expand(layers.Tensor(ActionQueries), shape));
        }

        string hidden = writer.Concat(1, [.. parts]);
        writer.Output(hidden, GraphIo.Hidden, DataType.Float, OnnxDim.Batch, c.SequenceLength, c.Hidden);
        return writer;
    }
}
