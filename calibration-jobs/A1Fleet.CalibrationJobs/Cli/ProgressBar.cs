using A1Fleet.Calibration;
using A1Fleet.Grains;

namespace A1Fleet.CalibrationJobs.Cli;

/// <summary>
/// On a terminal, one redrawn stderr line per phase; piped or redirected (<paramref name="redraw"/> false), one
/// plain line per phase, written when the phase ends, with its last figures. Each line: bar, samples done / total, rate and ETA, then a detail (the set
/// being evaluated, or a cluster job's shards). Stand-alone reports arrive per engine batch on the
/// calibrating thread and cluster reports per poll on the command's own loop, so no locking or
/// throttling is needed.
/// </summary>
internal sealed class ProgressBar(TextWriter error, bool redraw) : IProgress<CalibrationProgress>
{
    private const int Width = 24;
    private const string ClusterPhase = "cluster job";
    private string? _open;
    private string? _last;

    public void Report(CalibrationProgress value)
    {
        var phase = value.Phase == CalibrationPhase.CollectValues ? "calibration pass" : "held-out evaluation";
        var detail = value.Phase == CalibrationPhase.Evaluate ? $" ({value.Label})" : "";
        Draw(phase, value.Done, value.Total, value.SamplesPerSecond, value.EstimatedRemaining, detail);
    }

    /// <summary>
    /// A cluster job's progress: <paramref name="elapsed"/> is the time since the job started (its
    /// rate), the ETA is the coordinator's own estimate.
    /// </summary>
    public void ReportJob(CalibrationJobStatus status, TimeSpan elapsed, string? trouble = null)
    {
        var rate = elapsed > TimeSpan.Zero ? status.SamplesDone / elapsed.TotalSeconds : 0;
        TimeSpan? eta = status.State == CalibrationJobState.Running
            ? status.EtaSeconds is { } seconds ? TimeSpan.FromSeconds(Math.Round(seconds)) : null
            : TimeSpan.Zero;
        var detail = $" ({status.ShardsDone}/{status.ShardsTotal} shards done, {status.ShardsRunning} running{(trouble is null ? "" : "; " + trouble)})";
        Draw(ClusterPhase, status.SamplesDone, status.SamplesTotal, rate, eta, detail);
    }

    /// <summary>Ends the current line, if one is open.</summary>
    public void Finish()
    {
        if (_open is not null)
        {
            EndLine();
            _open = null;
        }
    }

    private void Draw(string phase, int done, int total, double samplesPerSecond, TimeSpan? remaining, string detail)
    {
        if (_open is { } open && open != phase)
        {
            EndLine();
        }

        _open = phase;
        var filled = total > 0 ? (int)Math.Round(Width * Math.Clamp((double)done / total, 0, 1)) : Width;
        var eta = remaining is { } r ? r.ToString(@"h\:mm\:ss") : "?";
        _last = $"{phase,-20} [{new string('#', filled)}{new string('.', Width - filled)}] {done}/{total} samples  {samplesPerSecond,7:F1} samples/s  ETA {eta}{detail}";
        if (redraw)
        {
            error.Write($"\r{_last}   ");
        }
    }

    private void EndLine()
    {
        if (redraw)
        {
            error.WriteLine();
        }
        else if (_last is not null)
        {
            error.WriteLine(_last);
        }

        _last = null;
    }
}
