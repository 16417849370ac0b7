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

        if (spec.Shards is < 1 or > 1024)
        {
            errors.Add($"shards {spec.Shards} must be within 1..1024");
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

        if (!A1Fleet.Engine.Inference.DecodeSettings.Named.ContainsKey(spec.Decode))
        {
            errors.Add($"decode '{spec.Decode}' is unknown");
        }

        if (spec.HoldoutShare is < 0 or >= 1)
        {
            errors.Add($"holdout share {spec.HoldoutShare} must be within [0, 1)");
        }

        if (spec.BatchSize is < 1 or > 256)
        {
            errors.Add($"batch size {spec.BatchSize} must be within 1..256");
        }

        return errors;
    }
}
