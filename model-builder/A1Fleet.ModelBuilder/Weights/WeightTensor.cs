namespace A1Fleet.ModelBuilder.Weights;

/// <summary>One named float32 parameter tensor, row-major. Linear weights are [in, out] (x W + b).</summary>
public sealed class WeightTensor(string name, int[] shape, float[] data, string part)
{
    public string Name { get; } = name;
    public int[] Shape { get; } = shape;
    public float[] Data { get; } = data;
    /// <summary>The graph that owns the tensor (a <see cref="WeightParts"/> value), for parameter counts.</summary>
    public string Part { get; } = part;

    public long ElementCount => Data.LongLength;
}

/// <summary>The parts parameter counts are reported by; each is one graph or one family of graphs.</summary>
public static class WeightParts
{
    public const string Prefix = "prefix";
    public const string LmLayers = "lm_layers";
    public const string MlpHead = "mlp_head";
    public const string ExpertSuffix = "expert_suffix";
    public const string ExpertLayers = "expert_layers";
    public const string ExpertOut = "expert_out";
}
