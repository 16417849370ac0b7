using A1Fleet.EarlyExit;

namespace A1Fleet.Grains.Calibration;

/// <summary>What makes a calibration job spec runnable, checked where a job starts and where a schedule is set.</summary>
internal static class CalibrationJobSpecRules
{
    /// <summary>Every problem of <paramref name="spec"/>, each saying what is wrong; empty when it can run.</summary>
    public static List<string> Problems(CalibrationJobSpec spec)
    {
        var errors = new List<string>();
        if (!Directory.Exists(spec.DatasetDirectory))
        {
            errors.Add($"dataset directory '{spec.DatasetDirectory}' does not exist");
        }

        if (CalibrationRules.ShardsProblem(spec.Shards) is { } shards)
        {
            errors.Add(shards);
        }

        if (spec.Families.Length == 0 || spec.Rs.Length == 0)
        {
            errors.Add("give at least one family and one r");
        }

        foreach (var family in spec.Families)
        {
            if (!ExitDistribution.TryParseFamily(family, out _))
            {
                errors.Add($"family '{family}' is unknown (exp, gauss, gamma)");
            }
        }

        if (Decodings.EarlyExitProblem(spec.Decode, out _) is { } decode)
        {
            errors.Add(decode);
        }

        if (CalibrationRules.HoldoutShareProblem(spec.HoldoutShare) is { } holdout)
        {
            errors.Add(holdout);
        }

        if (CalibrationRules.BatchSizeProblem(spec.BatchSize) is { } batch)
        {
            errors.Add(batch);
        }

        return errors;
    }
}
