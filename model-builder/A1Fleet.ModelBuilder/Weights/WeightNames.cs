namespace A1Fleet.ModelBuilder.Weights;

/// <summary>
/// Tensor names, shared by the weight layout, the ONNX graphs (as initializer names) and the oracle,
/// so that all three address the same numbers. A Linear named "x" has "x.weight" [in, out] and
/// "x.bias" [out]; a LayerNorm named "x" has "x.scale" and "x.bias".
/// </summary>
public static class WeightNames
{
    public const string PatchEmbedding = "vision.patch";
    public const string ImagePosition = "vision.position";
    public const string StateEmbedding = "state.embed";
    public const string TokenEmbedding = "text.embedding";
    public const string TokenPosition = "text.position";
    public const string ActionQueries = "action_queries";

    public const string HeadInputNorm = "head.norm_in";
    public const string HeadInput = "head.fc_in";
    public const string HeadOutputNorm = "head.norm_out";
    public const string HeadOutput = "head.fc_out";
    public const int HeadResidualBlocks = 2;

    public const string ExpertStateEmbedding = "expert_suffix.state";
    public const string ExpertActionEmbedding = "expert_suffix.action";
    /// <summary>The action half of Linear(2De -> De) over concat(h, temb), holding that Linear's bias.</summary>
    public const string ExpertActionTimeMixAction = "expert_suffix.mix_action";
    /// <summary>The time half of Linear(2De -> De): weight only.</summary>
    public const string ExpertActionTimeMixTime = "expert_suffix.mix_time";
    public const string ExpertActionTimeOut = "expert_suffix.mix_out";
    public const string ExpertPosition = "expert_suffix.position";

    public const string ExpertOutInputNorm = "expert_out.norm_in";
    public const string ExpertOutInput = "expert_out.fc_in";
    public const string ExpertOutOutputNorm = "expert_out.norm_out";
    public const string ExpertOutOutput = "expert_out.fc_out";
    public const int ExpertOutResidualBlocks = 1;

    public static string VisionBlock(int layer) => $"vision.{layer:D2}";
    public static string LmBlock(int layer) => $"lm.{layer:D2}";
    public static string ExpertBlock(int layer) => $"expert.{layer:D2}";
    public static string HeadResidual(int block) => $"head.res{block}";
    public static string ExpertOutResidual(int block) => $"expert_out.res{block}";

    public static string Weight(string linear) => linear + ".weight";
    public static string Bias(string linearOrNorm) => linearOrNorm + ".bias";
    public static string Scale(string norm) => norm + ".scale";

    // Sub-layers of a transformer block and of an MLP-ResNet residual block.
    public static string Norm1(string block) => block + ".ln1";
    public static string Norm2(string block) => block + ".ln2";
    public static string Query(string block) => block + ".attn.q";
    public static string Key(string block) => block + ".attn.k";
    public static string Value(string block) => block + ".attn.v";
    public static string AttentionOut(string block) => block + ".attn.o";
    public static string Gate(string block) => block + ".mlp.gate";
    public static string Up(string block) => block + ".mlp.up";
    public static string Down(string block) => block + ".mlp.down";
    public static string ResidualFirst(string block) => block + ".fc1";
    public static string ResidualSecond(string block) => block + ".fc2";
}
