namespace A1Fleet.ModelBuilder.Onnx;

/// <summary>One dimension of a graph input or output: a fixed size or a symbolic name such as "batch".</summary>
public readonly record struct OnnxDim(long Value, string? Symbol)
{
    public const string BatchSymbol = "batch";

    public static OnnxDim Batch { get; } = new(0, BatchSymbol);

    public static implicit operator OnnxDim(int value) => new(value, null);

    public static OnnxDim FromInt32(int value) => new(value, null);

    public override string ToString() => Symbol ?? Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
