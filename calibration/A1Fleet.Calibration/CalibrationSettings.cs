using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Calibration;

/// <summary>What to calibrate and how. Defaults follow the spec and the paper's exp sweep.</summary>
public sealed class CalibrationSettings
{
    public static readonly IReadOnlyList<double> PaperRs = [1.0, 0.7, 0.4, 0.1];

    public IReadOnlyList<ExitFamily> Families { get; init; } = [ExitFamily.Exp];

    public IReadOnlyList<double> Rs { get; init; } = PaperRs;

    /// <summary>Discrepancy metric; null takes the model's default (manifest defaults.metric).</summary>
    public string? Metric { get; init; }

    /// <summary>Decoding during calibration and evaluation; null takes the model's defaults. Must be early exit.</summary>
    public DecodeSettings? Decode { get; init; }

    /// <summary>Share of the episodes (the last ones, by index) kept out of calibration for evaluation; 0 evaluates nothing.</summary>
    public double HoldoutShare { get; init; } = 0.25;

    /// <summary>Requests per engine batch; results do not depend on it beyond float rounding.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Noise seed; each sample's seed is derived from it and the sample's global index.</summary>
    public ulong Seed { get; init; }

    /// <summary>Force p_1 = 0 (the reference code's 7B/8B setting).</summary>
    public bool ForbidFirstExit { get; init; }

    /// <summary>Provenance recorded in every threshold set (dataset path, split).</summary>
    public string Source { get; init; } = "";

    /// <summary>Largest engine batch a calibration may ask for, stand-alone or in the fleet (a shard's rows share one silo's memory).</summary>
    public const int MaxBatchSize = 256;

    /// <summary>Most shards a fleet calibration job may be split into.</summary>
    public const int MaxShards = 1024;

    /// <summary>The batch-size rule, the one place it is written; null when <paramref name="batchSize"/> is allowed.</summary>
    public static string? BatchSizeProblem(int batchSize) =>
        batchSize is < 1 or > MaxBatchSize ? $"batch size {batchSize} must be within 1..{MaxBatchSize}" : null;

    /// <summary>The hold-out share rule (NaN refused); null when <paramref name="share"/> is allowed.</summary>
    public static string? HoldoutShareProblem(double share) =>
        share >= 0 && share < 1 ? null : $"holdout share {share} must be within [0, 1)";

    /// <summary>The shard-count rule; null when <paramref name="shards"/> is allowed.</summary>
    public static string? ShardsProblem(int shards) =>
        shards is < 1 or > MaxShards ? $"shards {shards} must be within 1..{MaxShards}" : null;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Families.Count == 0)
        {
            errors.Add("at least one family is needed (exp, gauss, gamma)");
        }

        if (Rs.Count == 0)
        {
            errors.Add("at least one r is needed");
        }

        foreach (var r in Rs.Where(r => !double.IsFinite(r)))
        {
            errors.Add($"r {r} is not finite");
        }

        if (Families.Any(f => f is ExitFamily.Exp or ExitFamily.Gamma))
        {
            foreach (var r in Rs.Where(r => r <= 0))
            {
                errors.Add($"r {r} must be positive for the exp and gamma families");
            }
        }

        if (Metric is not null && !DiscrepancyMetrics.TryParse(Metric, out _))
        {
            errors.Add($"metric '{Metric}' is unknown (cosine, l2, mean, max)");
        }

        if (Decode is { Mode: not ExitMode.EarlyExit })
        {
            errors.Add("decode must be an early-exit mode: calibration needs the head at every exit");
        }

        if (Decode is { DenoisingSteps: < 1 })
        {
            errors.Add($"decode steps {Decode.DenoisingSteps} must be at least 1");
        }

        if (HoldoutShareProblem(HoldoutShare) is { } holdout)
        {
            errors.Add(holdout);
        }

        if (BatchSizeProblem(BatchSize) is { } batch)
        {
            errors.Add(batch);
        }

        return errors;
    }
}
