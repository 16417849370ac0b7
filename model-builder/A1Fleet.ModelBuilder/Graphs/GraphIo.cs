namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>Input and output names of the graphs: the contract the engine binds to.</summary>
public static class GraphIo
{
    public const string Images = "images";
    public const string TokenIds = "token_ids";
    public const string State = "state";
    public const string Hidden = "hidden";
    public const string AttentionBias = "attn_bias";
    public const string HiddenOut = "hidden_out";
    public const string Key = "key";
    public const string Value = "value";
    public const string Actions = "actions";
    public const string NoisyActions = "noisy_actions";
    public const string Time = "time";
    public const string SuffixHidden = "suffix_hidden";
    public const string PrefixKey = "prefix_key";
    public const string PrefixValue = "prefix_value";
    public const string SuffixHiddenOut = "suffix_hidden_out";
    public const string Velocity = "velocity";
    /// <summary>The vision tokens between prefix stages (<see cref="PrefixGraph.BuildStage"/>).</summary>
    public const string Vision = "vision";
    public const string VisionOut = "vision_out";

    /// <summary>attn_bias value for padded key positions (valid ones are 0).</summary>
    public const float MaskedBias = -1e9f;
}

/// <summary>File names inside a model package directory.</summary>
public static class PackageFiles
{
    public const string Manifest = "model.json";
    public const string Samples = "samples.json";
    public const string Prefix = "prefix.onnx";
    public const string MlpHead = "mlp_head.onnx";
    public const string ExpertSuffix = "expert_suffix.onnx";
    public const string ExpertOut = "expert_out.onnx";

    public static string LmLayer(int layer) => $"lm_layer_{layer:D2}.onnx";
    public static string PrefixStage(int stage) => $"prefix_stage_{stage:D2}.onnx";
    public static string ExpertLayer(int layer) => $"expert_layer_{layer:D2}.onnx";
}
