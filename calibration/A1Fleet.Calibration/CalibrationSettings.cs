using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Calibration;

/// <summary>What to calibrate and how. Defaults follow the spec and the paper's exp sweep.</summary>
public sealed class CalibrationSettings
{
    public IReadOnlyList<ExitFamily> Families { get; init; } = [CalibrationRules.DefaultFamily];

    public IReadOnlyList<double> Rs { get; init; } = CalibrationRules.PaperRs;

    /// <summary>Discrepancy metric; null takes the model's default (manifest defaults.metric).</summary>
    public string? Metric { get; init; }

    /// <summary>Decoding during calibration and evaluation; null takes the model's defaults. Must be early exit.</summary>
    public DecodeSettings? Decode { get; init; }

    /// <summary>Share of the episodes (the last ones, by index) kept out of calibration for evaluation; 0 evaluates nothing.</summary>
    public double HoldoutShare { get; init; } = CalibrationRules.DefaultHoldoutShare;

    /// <summary>Requests per engine batch; results do not depend on it beyond float rounding.</summary>
    public int BatchSize { get; init; } = CalibrationRules.DefaultBatchSize;

    /// <summary>Noise seed; each sample's seed is derived from it and the sample's global index.</summary>
    public ulong Seed { get; init; }

    /// <summary>Force p_1 = 0 (the reference code's 7B/8B setting).</summary>
    public bool ForbidFirstExit { get; init; }

    /// <summary>Provenance recorded in every threshold set (dataset path, split).</summary>
    public string Source { get; init; } = "";

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

        if (CalibrationRules.HoldoutShareProblem(HoldoutShare) is { } holdout)
        {
            errors.Add(holdout);
        }

        if (CalibrationRules.BatchSizeProblem(BatchSize) is { } batch)
        {
            errors.Add(batch);
        }

        return errors;
    }
}
