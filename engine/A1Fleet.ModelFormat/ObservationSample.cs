namespace A1Fleet.ModelFormat;

/// <summary>
/// One observation as a robot sends it: RGB8 images (row-major HWC) per camera in manifest order,
/// proprio in robot units, and the task instruction. Sample files shipped with a model package
/// hold a list of these (with the action the data recorded, when known).
/// </summary>
public sealed class ObservationSample
{
    public string Instruction { get; set; } = "";
    public float[] State { get; set; } = [];
    /// <summary>One byte array per camera, length Height * Width * 3.</summary>
    public List<byte[]> Images { get; set; } = [];
    /// <summary>Optional recorded action chunk in robot units, (H * validDims) row-major.</summary>
    public float[]? Actions { get; set; }
    /// <summary>Optional episode id: sample files split into calibration and held-out sets by episode.</summary>
    public int Episode { get; set; }
}
