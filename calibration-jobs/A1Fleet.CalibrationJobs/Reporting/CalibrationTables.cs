using A1Fleet.Calibration;

namespace A1Fleet.CalibrationJobs.Reporting;

/// <summary>The console tables: expected behaviour per set on the calibration data, then measured behaviour on held-out episodes.</summary>
internal static class CalibrationTables
{
    public static void Write(TextWriter output, CalibrationOutcome outcome, IReadOnlyList<int> exitLayers, int batchSize, string executionProvider)
    {
        var exitHeader = string.Concat(exitLayers.Select(l => $"{"L" + l,7}"));
        var nameWidth = Math.Max(16, outcome.Sets.Max(s => s.Name.Length) + 1);
        output.WriteLine();
        output.WriteLine($"calibration pass: {outcome.Values.Samples} samples in {outcome.CalibrationElapsed.TotalSeconds:F2} s = " +
            $"{outcome.CalibrationSamplesPerSecond:F1} samples/s (full depth, head at all {exitLayers.Count} exits; batch {batchSize}, {executionProvider})");
        output.WriteLine();
        output.WriteLine($"threshold sets, expected on the {outcome.Values.Samples} calibration samples (Ln = share exiting at 0-based LM layer n)");
        output.WriteLine($"{"set".PadRight(nameWidth)}{"layers run",11}{"reduction",11} |{exitHeader}");
        foreach (var set in outcome.Sets)
        {
            output.WriteLine($"{set.Name.PadRight(nameWidth)}{Percent(set.ExpectedLayerFraction),11}{Percent(1 - set.ExpectedLayerFraction),11} |{Shares(set.ExpectedExitShares)}");
        }

        if (outcome.HeldOut.Count == 0)
        {
            output.WriteLine();
            output.WriteLine("no held-out evaluation (--holdout-share 0)");
            return;
        }

        output.WriteLine();
        output.WriteLine($"held-out evaluation: the engine run with each set on {outcome.Split.HeldOut.Count} samples of episodes " +
            $"{string.Join(", ", outcome.Split.HeldOutEpisodes)}, never used for calibration");
        output.WriteLine($"{"set".PadRight(nameWidth)}{"layers run",11}{"reduction",11}{"expected",10} |{exitHeader}");
        foreach (var evaluation in outcome.HeldOut)
        {
            output.WriteLine($"{evaluation.Set.Name.PadRight(nameWidth)}{Percent(evaluation.MeanLayersRun / evaluation.TotalLayers),11}" +
                $"{Percent(evaluation.ComputeReduction),11}{Percent(evaluation.ExpectedReduction),10} |{Shares(evaluation.ExitShares)}");
        }

        output.WriteLine("reduction = 1 - mean LM layers run / L (the paper's \"fewer LLM FLOPs\"); expected = the same on the calibration data");
    }

    private static string Shares(IReadOnlyList<double> shares) => string.Concat(shares.Select(s => $"{Percent(s),7}"));

    /// <summary>"33.3%": the invariant culture's P format puts a space before the sign, which wastes the narrow columns.</summary>
    internal static string Percent(double fraction) => $"{fraction * 100:F1}%";
}
