namespace A1Fleet.EarlyExit;

/// <summary>
/// What a calibration may ask for, and what it gets when it leaves a choice out: the one place these are written,
/// read by the calibration job (stand-alone and <c>--cluster</c>), the job grain, the operator API's request
/// bodies and <c>a1ctl</c>. Pure data and arithmetic, so a client can check a request without the engine.
/// </summary>
public static class CalibrationRules
{
    /// <summary>The paper's exp sweep.</summary>
    public static IReadOnlyList<double> PaperRs { get; } = [1.0, 0.7, 0.4, 0.1];

    public const ExitFamily DefaultFamily = ExitFamily.Exp;

    /// <summary>The decoding a fleet calibration uses unless told (stand-alone, the model's default).</summary>
    public const Decoding DefaultDecoding = Decodings.Default;

    /// <summary>Share of the episodes (the last ones) kept out of calibration to measure the sets on.</summary>
    public const double DefaultHoldoutShare = 0.25;

    public const int DefaultBatchSize = 16;

    /// <summary>Largest engine batch a calibration may ask for, stand-alone or in the fleet (a shard's rows share one silo's memory).</summary>
    public const int MaxBatchSize = 256;

    public const int DefaultShards = 4;

    /// <summary>Most shards a fleet calibration job may be split into.</summary>
    public const int MaxShards = 1024;

    /// <summary>
    /// A sample that cannot be read stops the job unless the caller asks to skip such samples: a calibration
    /// that quietly drops data would publish thresholds fitted to less than the operator thinks.
    /// </summary>
    public const bool DefaultSkipBadData = false;

    /// <summary>The batch-size rule; null when <paramref name="batchSize"/> is allowed.</summary>
    public static string? BatchSizeProblem(int batchSize) =>
        batchSize is < 1 or > MaxBatchSize ? $"batch size {batchSize} must be within 1..{MaxBatchSize}" : null;

    /// <summary>The hold-out share rule (NaN refused); null when <paramref name="share"/> is allowed.</summary>
    public static string? HoldoutShareProblem(double share) =>
        share >= 0 && share < 1 ? null : $"holdout share {share} must be within [0, 1)";

    /// <summary>The shard-count rule; null when <paramref name="shards"/> is allowed.</summary>
    public static string? ShardsProblem(int shards) =>
        shards is < 1 or > MaxShards ? $"shards {shards} must be within 1..{MaxShards}" : null;
}
