using System.Text.Json;
using A1Fleet.Calibration;
using A1Fleet.Datasets.Reading;

namespace A1Fleet.CalibrationJobs.Reporting;

/// <summary>calibration-report.json: the numbers of the console tables, for docs and dashboards.</summary>
internal static class CalibrationReportFile
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static string Write(string path, CalibrationOutcome outcome, DatasetReadSummary summary, string dataset, string model, string executionProvider, int batchSize)
    {
        var report = new
        {
            model = Path.GetFullPath(model),
            dataset = Path.GetFullPath(dataset),
            metric = outcome.Metric,
            decode = new { mode = outcome.Decode.Mode.ToString(), steps = outcome.Decode.DenoisingSteps, warmStart = outcome.Decode.WarmStart },
            samplesUsed = summary.SamplesUsed,
            samplesSkipped = summary.SamplesSkipped,
            skippedByKind = summary.SkippedByKind.ToDictionary(k => k.Key.ToString(), k => k.Value),
            notes = summary.Notes,
            calibrationEpisodes = outcome.Split.CalibrationEpisodes,
            heldOutEpisodes = outcome.Split.HeldOutEpisodes,
            calibration = new
            {
                samples = outcome.Values.Samples,
                seconds = outcome.CalibrationElapsed.TotalSeconds,
                samplesPerSecond = outcome.CalibrationSamplesPerSecond,
                batchSize,
                executionProvider,
            },
            sets = outcome.Sets.Select(s => new
            {
                name = s.Name,
                version = s.Version,
                expectedLayerFraction = s.ExpectedLayerFraction,
                expectedReduction = 1 - s.ExpectedLayerFraction,
                expectedExitShares = s.ExpectedExitShares,
            }),
            heldOut = outcome.HeldOut.Select(h => new
            {
                name = h.Set.Name,
                samples = h.Samples,
                meanLayersRun = h.MeanLayersRun,
                computeReduction = h.ComputeReduction,
                expectedReduction = h.ExpectedReduction,
                exitShares = h.ExitShares,
            }),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(report, JsonOptions));
        return path;
    }
}
