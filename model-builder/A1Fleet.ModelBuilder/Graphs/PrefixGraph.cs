using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// prefix.onnx: images [B,C,3,S,S], token_ids int64 [B,T], state [B,Sd] -> hidden [B,N,D].
/// Tokens in order: camera patches (row-major per camera), state, instruction, action queries (MLP).
/// <para>
/// The same computation split at the vision blocks (<see cref="BuildStage"/>, prefix_stage_NN.onnx, written when the
/// vision tower has two blocks or more): an engine runs each stage as a step of its own, so a batch that arrives while
/// another's prefix runs waits for one vision block rather than the whole prefix. Stage 0: images -> vision_out [B,I,D]
/// (patch embedding and block 0); a middle stage k: vision -> vision_out (block k); the last: vision, token_ids, state
/// -> hidden (its block, then the state and instruction embeddings). Chained, they compute what prefix.onnx does.
/// </para>
/// </summary>
public static class PrefixGraph
{
    public static OnnxModelWriter Build(ReferenceWeights weights)
    {
        var c = weights.Config;
        var writer = new OnnxModelWriter("prefix", "Vision tower, state and instruction embeddings of the A1 reference model.");
        var layers = new GraphLayers(writer, weights);
        string images = ImagesInput(writer, c);
        string tokenIds = writer.Input(GraphIo.TokenIds, DataType.Int64, OnnxDim.Batch, c.MaxTokens);
        string state = writer.Input(GraphIo.State, DataType.Float, OnnxDim.Batch, c.StateDim);

        string vision = PatchTokens(writer, layers, c, images);
        for (int layer = 0; layer < c.VisionLayers; layer++)
        {
            vision = layers.EncoderBlock(vision, VisionBlock(layer), c.ImageTokens, keyBias: null).Hidden;
        }

        writer.Output(Embeddings(writer, layers, c, vision, tokenIds, state), GraphIo.Hidden, DataType.Float, OnnxDim.Batch, c.SequenceLength, c.Hidden);
        return writer;
    }

    /// <summary>How many stages <see cref="BuildStage"/> splits the prefix into: one per vision block, none below two blocks (nothing to split).</summary>
    public static int Stages(ReferenceModelConfig c) => c.VisionLayers >= 2 ? c.VisionLayers : 0;

    public static OnnxModelWriter BuildStage(ReferenceWeights weights, int stage)
    {
        var c = weights.Config;
        int stages = Stages(c);
        ArgumentOutOfRangeException.ThrowIfNegative(stage);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(stage, stages);
        var writer = new OnnxModelWriter($"prefix_stage_{stage:D2}", $"Prefix stage {stage} of {stages} (vision block {stage}) of the A1 reference model.");
        var layers = new GraphLayers(writer, weights);
        string vision = stage == 0
            ? PatchTokens(writer, layers, c, ImagesInput(writer, c))
            : writer.Input(GraphIo.Vision, DataType.Float, OnnxDim.Batch, c.ImageTokens, c.Hidden);
        vision = layers.EncoderBlock(vision, VisionBlock(stage), c.ImageTokens, keyBias: null).Hidden;
        if (stage < stages - 1)
        {
            writer.Output(vision, GraphIo.VisionOut, DataType.Float, OnnxDim.Batch, c.ImageTokens, c.Hidden);
            return writer;
        }

        string tokenIds = writer.Input(GraphIo.TokenIds, DataType.Int64, OnnxDim.Batch, c.MaxTokens);
        string state = writer.Input(GraphIo.State, DataType.Float, OnnxDim.Batch, c.StateDim);
        writer.Output(Embeddings(writer, layers, c, vision, tokenIds, state), GraphIo.Hidden, DataType.Float, OnnxDim.Batch, c.SequenceLength, c.Hidden);
        return writer;
    }

    private static string ImagesInput(OnnxModelWriter writer, ReferenceModelConfig c) =>
        writer.Input(GraphIo.Images, DataType.Float, OnnxDim.Batch, c.Cameras.Count, 3, c.ImageSize, c.ImageSize);

    /// <summary>[B,C,3,S,S] -> patch tokens [B, C*Pc, D] with their positions.</summary>
    private static string PatchTokens(OnnxModelWriter writer, GraphLayers layers, ReferenceModelConfig c, string images)
    {
        int cameras = c.Cameras.Count;
        int side = c.PatchesPerSide;
        // [B,C,3,S,S] -> [B,C,3,rows,P,cols,P] -> [B,C,rows,cols,3,P,P] -> [B, C*Pc, 3*P*P]:
        // patch vectors in (channel, row-in-patch, col-in-patch) order.
        string blocks = writer.Reshape(images, 0, cameras, 3, side, c.Patch, side, c.Patch);
        string patches = writer.Reshape(writer.Transpose(blocks, 0, 1, 3, 5, 2, 4, 6), 0, c.ImageTokens, c.PatchVectorSize);
        return writer.Add(layers.Linear(patches, PatchEmbedding), layers.Tensor(ImagePosition));
    }

    /// <summary>The vision tokens followed by the state token, the instruction and (MLP) the action queries.</summary>
    private static string Embeddings(OnnxModelWriter writer, GraphLayers layers, ReferenceModelConfig c, string vision, string tokenIds, string state)
    {
        string stateToken = writer.Unsqueeze(layers.Linear(state, StateEmbedding), 1);
        string instruction = writer.Add(writer.Gather(layers.Tensor(TokenEmbedding), tokenIds), layers.Tensor(TokenPosition));
        var parts = new List<string> { vision, stateToken, instruction };
        if (!c.IsFlowMatching)
        {
            // Learned queries [Q,D] broadcast to [B,Q,D]; the batch size comes from the state input.
            string shape = writer.Concat(0, writer.Shape(state, 0, 1), writer.Int64s(c.ActionQueries, c.Hidden));
            parts.Add(writer.Expand(layers.Tensor(ActionQueries), shape));
        }

        return writer.Concat(1, [.. parts]);
    }
}
