using A1Fleet.Calibration;
using A1Fleet.EarlyExit;

namespace A1Fleet.CalibrationJobs.Reporting;

/// <summary>
/// The console tables: expected behaviour per set on the calibration data, then measured behaviour on
/// held-out episodes. The expected table is drawn from the threshold sets alone (each carries the
/// exit shares and layer fraction its calibration realised), so a stand-alone run and a cluster job's
/// published sets print through the same code.
/// </summary>
internal static class CalibrationTables
{
    public static void Write(TextWriter output, CalibrationOutcome outcome, IReadOnlyList<int> exitLayers, int batchSize, string executionProvider)
    {
        WritePass(output, outcome.Values.Samples, outcome.CalibrationElapsed, $"full depth, head at all {exitLayers.Count} exits; batch {batchSize}, {executionProvider}");
        WriteExpected(output, outcome.Sets);
        var nameWidth = NameWidth(outcome.Sets);
        var exitHeader = ExitHeader(exitLayers);
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

    /// <summary>The values pass: samples, time, rate, and where and how it ran.</summary>
    public static void WritePass(TextWriter output, int samples, TimeSpan elapsed, string how)
    {
        var rate = elapsed > TimeSpan.Zero ? samples / elapsed.TotalSeconds : 0;
        output.WriteLine();
        output.WriteLine($"calibration pass: {samples} samples in {elapsed.TotalSeconds:F2} s = {rate:F1} samples/s ({how})");
    }

    /// <summary>
    /// Per set: the share of LM layers run and the share of samples leaving at each exit, as the
    /// set's calibration realised them (<see cref="ThresholdSet.ExpectedLayerFraction"/> and
    /// <see cref="ThresholdSet.ExpectedExitShares"/>, from <c>ThresholdSet.Calibrate</c>).
    /// </summary>
    public static void WriteExpected(TextWriter output, IReadOnlyList<ThresholdSet> sets)
    {
        var nameWidth = NameWidth(sets);
        output.WriteLine();
        output.WriteLine($"threshold sets, expected on the {sets[0].SampleCount} calibration samples (Ln = share exiting at 0-based LM layer n)");
        output.WriteLine($"{"set".PadRight(nameWidth)}{"layers run",11}{"reduction",11} |{ExitHeader(sets[0].ExitLayers)}");
        foreach (var set in sets)
        {
            output.WriteLine($"{set.Name.PadRight(nameWidth)}{Percent(set.ExpectedLayerFraction),11}{Percent(1 - set.ExpectedLayerFraction),11} |{Shares(set.ExpectedExitShares)}");
        }
    }

    private static int NameWidth(IReadOnlyList<ThresholdSet> sets) => Math.Max(16, sets.Max(s => s.Name.Length) + 1);

    private static string ExitHeader(IReadOnlyList<int> exitLayers) => string.Concat(exitLayers.Select(l => $"{"L" + l,7}"));

    private static string Shares(IReadOnlyList<double> shares) => string.Concat(shares.Select(s => $"{Percent(s),7}"));

    /// <summary>"33.3%": the invariant culture's P format puts a space before the sign, which wastes the narrow columns.</summary>
    internal static string Percent(double fraction) => $"{fraction * 100:F1}%";
}
