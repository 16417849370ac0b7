namespace A1Fleet.CalibrationJobs.Cli;

internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The inputs were read but something about them is wrong (bad data, model, mapping).</summary>
    public const int Failed = 1;

    /// <summary>The command line itself is wrong.</summary>
    public const int Usage = 2;

    public const int Canceled = 130;
}
