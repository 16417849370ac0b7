namespace A1Fleet.Calibration;

public enum CalibrationPhase
{
    /// <summary>Full-depth pass over the calibration samples building the values matrix.</summary>
    CollectValues,

    /// <summary>Running the engine with each threshold set over the held-out samples.</summary>
    Evaluate,
}

/// <summary>A progress report: samples done of the phase's total, and time spent in the phase.</summary>
public readonly record struct CalibrationProgress(CalibrationPhase Phase, string Label, int Done, int Total, TimeSpan Elapsed)
{
    public double SamplesPerSecond => Elapsed.TotalSeconds > 0 ? Done / Elapsed.TotalSeconds : 0;

    /// <summary>Remaining time at the phase's rate so far; null before the first sample.</summary>
    public TimeSpan? EstimatedRemaining => Done > 0 ? TimeSpan.FromSeconds((Total - Done) / SamplesPerSecond) : null;
}
