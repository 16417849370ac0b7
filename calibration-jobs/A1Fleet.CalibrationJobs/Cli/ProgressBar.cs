using A1Fleet.Calibration;

namespace A1Fleet.CalibrationJobs.Cli;

/// <summary>
/// One redrawn stderr line per phase: bar, samples done / total, rate and ETA (and, while
/// evaluating, the set being run). Reports arrive per engine batch on the calibrating thread, so
/// no locking or throttling is needed.
/// </summary>
internal sealed class ProgressBar(TextWriter error) : IProgress<CalibrationProgress>
{
    private const int Width = 24;
    private CalibrationPhase? _open;

    public void Report(CalibrationProgress value)
    {
        if (_open is { } open && open != value.Phase)
        {
            error.WriteLine();
        }

        _open = value.Phase;
        var filled = value.Total > 0 ? (int)Math.Round(Width * (double)value.Done / value.Total) : Width;
        var eta = value.EstimatedRemaining is { } remaining ? remaining.ToString(@"h\:mm\:ss") : "?";
        var phase = value.Phase == CalibrationPhase.CollectValues ? "calibration pass" : "held-out evaluation";
        var detail = value.Phase == CalibrationPhase.Evaluate ? $" ({value.Label})" : "";
        error.Write($"\r{phase,-20} [{new string('#', filled)}{new string('.', Width - filled)}] {value.Done}/{value.Total} samples  {value.SamplesPerSecond,7:F1} samples/s  ETA {eta}{detail}   ");
    }

    /// <summary>Ends the current line, if one is open.</summary>
    public void Finish()
    {
        if (_open is not null)
        {
            error.WriteLine();
            _open = null;
        }
    }
}
