using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Calibration;

/// <summary>How one threshold set behaved on the held-out samples when the engine really exited early.</summary>
public sealed record HeldOutEvaluation(
    ThresholdSet Set,
    int Samples,
    double MeanLayersRun,
    int TotalLayers,
    IReadOnlyList<double> ExitShares)
{
    /// <summary>1 - mean LM layers run / L: the paper's "fewer LLM FLOPs".</summary>
    public double ComputeReduction => 1 - (MeanLayersRun / TotalLayers);

    /// <summary>What the calibration data promised: 1 - the set's expected layer fraction.</summary>
    public double ExpectedReduction => 1 - Set.ExpectedLayerFraction;
}

/// <summary>Everything a calibration produced.</summary>
public sealed record CalibrationOutcome(
    ValuesMatrix Values,
    HoldoutSplit Split,
    string Metric,
    DecodeSettings Decode,
    IReadOnlyList<ThresholdSet> Sets,
    IReadOnlyList<HeldOutEvaluation> HeldOut,
    TimeSpan CalibrationElapsed)
{
    /// <summary>Throughput of the full-depth values pass (head at every exit).</summary>
    public double CalibrationSamplesPerSecond => CalibrationElapsed.TotalSeconds > 0 ? Values.Samples / CalibrationElapsed.TotalSeconds : 0;
}
