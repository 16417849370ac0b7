using A1Fleet.EarlyExit;

namespace A1Fleet.Engine.Inference;

public enum ExitMode
{
    /// <summary>Run every layer (or up to the cap); the head runs once, at the end.</summary>
    FullDepth,
    /// <summary>A1's adaptive inference: the head runs at every exit and the request stops when consecutive exits agree.</summary>
    EarlyExit,
}

/// <summary>Per-request decoding choice. The named presets are the modes the paper compares.</summary>
public sealed record DecodeSettings(ExitMode Mode, int DenoisingSteps, bool WarmStart)
{
    public static readonly DecodeSettings FullDepthK10 = new(ExitMode.FullDepth, 10, false);
    public static readonly DecodeSettings EarlyExitColdK10 = new(ExitMode.EarlyExit, 10, false);
    public static readonly DecodeSettings EarlyExitColdK2 = new(ExitMode.EarlyExit, 2, false);
    /// <summary>The A1 default: early exit with 2 warm-started Euler steps per exit.</summary>
    public static readonly DecodeSettings EarlyExitWarmK2 = new(ExitMode.EarlyExit, 2, true);

    /// <summary>The settings a named decoding stands for (names in <see cref="Decodings"/>).</summary>
    public static DecodeSettings Of(Decoding decoding) => decoding switch
    {
        Decoding.ExitWarmK2 => EarlyExitWarmK2,
        Decoding.ExitColdK2 => EarlyExitColdK2,
        Decoding.ExitColdK10 => EarlyExitColdK10,
        Decoding.FullK10 => FullDepthK10,
        _ => throw new ArgumentOutOfRangeException(nameof(decoding), decoding, "not a decoding"),
    };
}

/// <summary>
/// One observation to turn into an action chunk, with how to decode it. Images are RGB8 HWC, one per
/// manifest camera in order; state is proprio in robot units.
/// </summary>
public sealed record InferenceRequest
{
    public required string Instruction { get; init; }
    public required float[] State { get; init; }
    public required IReadOnlyList<byte[]> Images { get; init; }
    public DecodeSettings Decode { get; init; } = DecodeSettings.EarlyExitWarmK2;
    /// <summary>Thresholds for early exit; required for <see cref="ExitMode.EarlyExit"/> unless discrepancies are only recorded.</summary>
    public ThresholdSet? Thresholds { get; init; }
    /// <summary>Metric for the exit test; defaults to the threshold set's metric, then the model's default.</summary>
    public DiscrepancyMetric? Metric { get; init; }
    /// <summary>Deepest LM layer (0-based) this request may reach, e.g. from its latency budget. Snapped down to an exit layer, never below the first.</summary>
    public int? MaxLayer { get; init; }
    /// <summary>Noise seed: the same request with the same seed gives the same chunk.</summary>
    public ulong Seed { get; init; }
    /// <summary>Calibration: run the head at every exit up to the cap without exiting and report each exit's discrepancy.</summary>
    public bool RecordDiscrepancies { get; init; }
}
