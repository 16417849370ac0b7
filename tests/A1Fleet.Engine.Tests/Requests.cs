using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests;

internal static class Requests
{
    public static InferenceRequest From(ObservationSample s, DecodeSettings decode, ThresholdSet? thresholds = null, ulong seed = 7, int? maxLayer = null) => new()
    {
        Instruction = s.Instruction,
        State = s.State,
        Images = s.Images,
        Decode = decode,
        Thresholds = thresholds,
        Seed = seed,
        MaxLayer = maxLayer,
    };

    /// <summary>A threshold set that never exits early (every threshold -inf but the last).</summary>
    public static ThresholdSet Never(A1Engine engine) => Uniform(engine, double.NegativeInfinity);

    /// <summary>A threshold set that exits at the first exit (every threshold +inf).</summary>
    public static ThresholdSet Always(A1Engine engine) => Uniform(engine, double.PositiveInfinity);

    public static ThresholdSet Uniform(A1Engine engine, double value)
    {
        var exits = engine.ExitLayers.ToArray();
        var thresholds = exits.Select(_ => value).ToArray();
        thresholds[^1] = double.PositiveInfinity;
        return new ThresholdSet
        {
            ModelId = engine.ModelId,
            ModelVersion = engine.Manifest.ModelVersion,
            Version = "test",
            Metric = engine.Manifest.Defaults.Metric,
            Family = "exp",
            R = 1.0,
            ExitLayers = exits,
            TotalLayers = engine.Layers,
            Thresholds = thresholds,
            SampleCount = 1,
            Source = "test",
            ExpectedExitShares = exits.Select(_ => 1.0 / exits.Length).ToArray(),
            ExpectedLayerFraction = 1,
            ForbidFirstExit = false,
            CreatedAt = DateTimeOffset.UnixEpoch,
        };
    }
}
