namespace A1Fleet.EarlyExit.Tests.Calibration;

public sealed class ThresholdCalibratorTests
{
    private const double Inf = double.PositiveInfinity;
    private const double NegInf = double.NegativeInfinity;

    public static TheoryData<int, int, ExitFamily, double, int> RandomCases => new()
    {
        { 1, 1000, ExitFamily.Exp, 1.0, 14 },
        { 2, 1000, ExitFamily.Exp, 0.4, 14 },
        { 3, 997, ExitFamily.Exp, 0.1, 14 },
        { 4, 100, ExitFamily.Gauss, 3.0, 6 },
        { 5, 37, ExitFamily.Gamma, 2.0, 5 },
        { 6, 7, ExitFamily.Exp, 0.8, 3 },
        { 7, 2048, ExitFamily.Gamma, 4.5, 14 },
        { 8, 250, ExitFamily.Gauss, 0.0, 2 },
    };

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void FilteredQuantileThresholds_RandomMatrixWithoutTies_RealisesTargetSharesWithinOneSample(
        int seed, int samples, ExitFamily family, double r, int exits)
    {
        var values = ValuesMatrixTests.RandomMatrix(new Random(seed), exits, samples);
        var targets = ExitDistribution.TargetShares(family, r, exits);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, targets);
        var realised = ThresholdCalibrator.RealisedShares(values, thresholds);

        for (int k = 0; k < exits - 1; k++)
        {
            int quota = (int)Math.Floor((samples * targets[k]) + 1e-9);
            Assert.Equal(quota, (int)Math.Round(realised[k] * samples));
            Assert.True(Math.Abs(realised[k] - targets[k]) <= (1.0 / samples) + 1e-12, $"exit {k}: realised {realised[k]}, target {targets[k]}");
            Assert.Equal(quota == 0, double.IsNegativeInfinity(thresholds[k]));
        }

        Assert.Equal(1.0 - realised[..^1].Sum(), realised[^1], 1e-12);
        Assert.True(Math.Abs(realised[^1] - targets[^1]) <= ((exits - 1.0) / samples) + 1e-12);
        Assert.Equal(Inf, thresholds[^1]);
    }

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void ExitIndex_EveryCalibrationSample_AgreesWithCalibratorAssignment(
        int seed, int samples, ExitFamily family, double r, int exits)
    {
        var values = ValuesMatrixTests.RandomMatrix(new Random(seed), exits, samples);
        // Coarse rounding creates ties, the case where assignment and quota differ.
        for (int k = 0; k < exits; k++)
        {
            for (int s = 0; s < samples; s++)
            {
                values[k, s] = Math.Round(values[k, s], 1);
            }
        }

        AssertRuntimeRuleMatchesAssignment(values, ExitDistribution.TargetShares(family, r, exits));
    }

    [Fact]
    public void FilteredQuantileThresholds_AllTiesRow_AssignsMoreThanQuota()
    {
        var values = Matrix(
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, [0.3, 0.3, 0.4]);

        // n_0 = 3, but all ten samples tie at 0.5 and are taken; nothing is left for exit 1.
        Assert.Equal([0.5, NegInf, Inf], thresholds);
        Assert.Equal([1.0, 0.0, 0.0], ThresholdCalibrator.RealisedShares(values, thresholds));
        AssertRuntimeRuleMatchesAssignment(values, [0.3, 0.3, 0.4]);
    }

    [Fact]
    public void FilteredQuantileThresholds_PartialTiesThenLargeQuota_SwitchesLaterExitOff()
    {
        var values = Matrix(
            [0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4],
            [9, 9, 9, 9, 9, 9, 0.4, 0.3, 0.2, 0.1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        double[] shares = [0.2, 0.5, 0.3];

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, shares);

        // n_0 = 2 ties six samples at 0; n_1 = 5 but only four samples remain -> exit 1 off.
        Assert.Equal([0.0, NegInf, Inf], thresholds);
        Assert.Equal([0.6, 0.0, 0.4], ThresholdCalibrator.RealisedShares(values, thresholds));
        AssertRuntimeRuleMatchesAssignment(values, shares);
    }

    [Fact]
    public void FilteredQuantileThresholds_QuotaCountsOnlyUnassignedSamples()
    {
        var values = Matrix(
            [0.1, 0.2, 0.9, 0.8, 0.7, 0.6],
            [0.0, 0.0, 0.5, 0.4, 0.3, 0.2],
            [0, 0, 0, 0, 0, 0]);
        double[] shares = [2.0 / 6, 2.0 / 6, 2.0 / 6];

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, shares);

        // Exit 0 takes samples 0 and 1; their 0.0 values at exit 1 must not count, so T_1 is the
        // second smallest of (0.5, 0.4, 0.3, 0.2), not 0.0.
        Assert.Equal([0.2, 0.3, Inf], thresholds);
        Assert.Equal(new[] { 2.0 / 6, 2.0 / 6, 2.0 / 6 }, ThresholdCalibrator.RealisedShares(values, thresholds));
    }

    [Fact]
    public void FilteredQuantileThresholds_ConstantRows_FirstEligibleExitTakesEverything()
    {
        var values = Matrix(
            [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
            [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 1.0, 4);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, shares);

        Assert.Equal([0.3, NegInf, NegInf, Inf], thresholds);
        Assert.Equal([1.0, 0.0, 0.0, 0.0], ThresholdCalibrator.RealisedShares(values, thresholds));
    }

    [Fact]
    public void FilteredQuantileThresholds_ConstantLaterRow_TakesAllRemainingSamples()
    {
        var values = Matrix(
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
            [0, 0, 0, 0, 0, 0, 0, 0]);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, [0.25, 0.25, 0.5]);

        Assert.Equal([0.2, 0.2, Inf], thresholds);
        Assert.Equal([0.25, 0.75, 0.0], ThresholdCalibrator.RealisedShares(values, thresholds));
    }

    [Fact]
    public void FilteredQuantileThresholds_FewerSamplesThanExits_SwitchesZeroQuotaExitsOff()
    {
        var values = ValuesMatrixTests.RandomMatrix(new Random(3), exits: 14, samples: 3);
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 1.0, 14);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, shares);

        // 3 * 1/14 < 1: every quota is 0.
        Assert.All(thresholds[..^1], threshold => Assert.Equal(NegInf, threshold));
        Assert.Equal(Inf, thresholds[^1]);
        var realised = ThresholdCalibrator.RealisedShares(values, thresholds);
        Assert.Equal(1.0, realised[^1]);
    }

    [Fact]
    public void FilteredQuantileThresholds_NaNValues_AreNeverCountedOrAssigned()
    {
        double nan = double.NaN;
        var values = Matrix(
            [nan, nan, nan, nan, 0.6, 0.1, 0.5, 0.2, 0.4, 0.3],
            [0.9, nan, 0.7, 0.8, 0.95, 0.01, 0.01, 0.01, 0.01, 0.01],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        double[] shares = [0.5, 0.3, 0.2];

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, shares);

        // Exit 0: fifth smallest of the six numbers is 0.5. Exit 1: third smallest unassigned
        // number is 0.9; sample 1 (NaN) and sample 4 (0.95) fall through to the last exit.
        Assert.Equal([0.5, 0.9, Inf], thresholds);
        Assert.Equal([0.5, 0.3, 0.2], ThresholdCalibrator.RealisedShares(values, thresholds));
        var exitOfSample = new int[values.Samples];
        ThresholdCalibrator.Calibrate(values, shares, exitOfSample);
        Assert.Equal([1, 2, 1, 1, 2, 0, 0, 0, 0, 0], exitOfSample);
    }

    [Fact]
    public void FilteredQuantileThresholds_TooFewNonNaNValues_SwitchesExitOff()
    {
        double nan = double.NaN;
        var values = Matrix(
            [nan, nan, nan, 0.1, 0.2, nan],
            [0.3, 0.1, 0.2, 0.5, 0.5, 0.4],
            [0, 0, 0, 0, 0, 0]);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, [0.5, 0.25, 0.25]);

        // n_0 = 3 but only two values are numbers; n_1 = 1 takes the smallest, 0.1.
        Assert.Equal([NegInf, 0.1, Inf], thresholds);
    }

    [Fact]
    public void FilteredQuantileThresholds_QuotaJustBelowIntegerInFloatingPoint_IsRoundedUp()
    {
        var values = ValuesMatrixTests.RandomMatrix(new Random(9), exits: 2, samples: 49);
        double share = 1.0 / 49;
        Assert.True(49 * share < 1.0);

        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, [share, 1 - share]);

        Assert.Equal(values.Row(0).ToArray().Min(), thresholds[0]);
    }

    [Fact]
    public void FilteredQuantileThresholds_ColumnsPermuted_GiveIdenticalThresholds()
    {
        var random = new Random(11);
        var values = ValuesMatrixTests.RandomMatrix(random, exits: 5, samples: 60);
        for (int k = 0; k < values.Exits; k++)
        {
            for (int s = 0; s < values.Samples; s++)
            {
                values[k, s] = Math.Round(values[k, s], 2);
            }
        }

        var permutation = Enumerable.Range(0, values.Samples).OrderBy(_ => random.Next()).ToArray();
        var permuted = new ValuesMatrix(values.Exits, values.Samples);
        for (int k = 0; k < values.Exits; k++)
        {
            for (int s = 0; s < values.Samples; s++)
            {
                permuted[k, s] = values[k, permutation[s]];
            }
        }

        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 0.6, 5);

        Assert.Equal(
            ThresholdCalibrator.FilteredQuantileThresholds(values, shares),
            ThresholdCalibrator.FilteredQuantileThresholds(permuted, shares));
    }

    [Fact]
    public void FilteredQuantileThresholds_ShareCountMismatch_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ThresholdCalibrator.FilteredQuantileThresholds(new ValuesMatrix(3, 4), [0.5, 0.5]));

        Assert.Equal("shares", error.ParamName);
    }

    [Fact]
    public void FilteredQuantileThresholds_NegativeInfinityValue_Throws()
    {
        var values = new ValuesMatrix(2, 3) { [0, 1] = NegInf };

        var error = Assert.Throws<ArgumentException>(() => ThresholdCalibrator.FilteredQuantileThresholds(values, [0.5, 0.5]));

        Assert.Contains("sample 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FilteredQuantileThresholds_SingleExit_IsJustInfinity()
    {
        var values = ValuesMatrix.FromColumns([[0.4], [0.1]]);

        Assert.Equal([Inf], ThresholdCalibrator.FilteredQuantileThresholds(values, [1.0]));
    }

    [Theory]
    [InlineData(new[] { 0.2, 0.0, 5.0 }, 2)] // exit 1 is off: 0.0 <= -inf is false
    [InlineData(new[] { 0.1, 9.0, 9.0 }, 0)] // equality exits
    [InlineData(new[] { 0.11, 9.0, 9.0 }, 2)]
    [InlineData(new[] { double.NaN, 9.0, double.NaN }, 2)]
    public void ExitIndex_ValuesAgainstThresholds_ReturnsFirstPassingExit(double[] values, int expected)
    {
        Assert.Equal(expected, ThresholdCalibrator.ExitIndex(values, [0.1, NegInf, Inf]));
    }

    [Fact]
    public void ExitIndex_LengthMismatch_Throws()
    {
        Assert.Throws<ArgumentException>(() => ThresholdCalibrator.ExitIndex([0.1, 0.2], [0.1, 0.2, Inf]));
    }

    [Fact]
    public void ExpectedLayerFraction_ExitBlockRuns_CountsLayersUpToAndIncludingExit()
    {
        // (0.5 * 2 + 0.25 * 4 + 0.25 * 28) / 28
        double fraction = ThresholdCalibrator.ExpectedLayerFraction([0.5, 0.25, 0.25], [1, 3, 27], 28, exitBlockRuns: true);

        Assert.Equal(9.0 / 28, fraction, 1e-15);
    }

    [Fact]
    public void ExpectedLayerFraction_HeadReadsTheExitBlocksInput_CountsLayersBeforeExit()
    {
        // An MLP head: (0.5 * 1 + 0.25 * 3 + 0.25 * 27) / 28
        double fraction = ThresholdCalibrator.ExpectedLayerFraction([0.5, 0.25, 0.25], [1, 3, 27], 28, exitBlockRuns: false);

        Assert.Equal(8.0 / 28, fraction, 1e-15);
    }

    [Fact]
    public void ExpectedLayerFraction_EverythingAtLastLayer_IsOneOrOneLayerLessForAnMlpHead()
    {
        Assert.Equal(1.0, ThresholdCalibrator.ExpectedLayerFraction([0, 0, 1], [1, 3, 27], 28, exitBlockRuns: true), 1e-15);
        Assert.Equal(27.0 / 28, ThresholdCalibrator.ExpectedLayerFraction([0, 0, 1], [1, 3, 27], 28, exitBlockRuns: false), 1e-15);
    }

    [Fact]
    public void ExpectedLayerFraction_LayerOutsideModel_Throws()
    {
        Assert.Throws<ArgumentException>(() => ThresholdCalibrator.ExpectedLayerFraction([0.5, 0.5], [1, 28], 28, exitBlockRuns: true));
    }

    [Fact]
    public void RealisedShares_EmptyMatrix_Throws()
    {
        Assert.Throws<ArgumentException>(() => ThresholdCalibrator.RealisedShares(new ValuesMatrix(2, 0), [0.1, Inf]));
    }

    private static void AssertRuntimeRuleMatchesAssignment(ValuesMatrix values, double[] shares)
    {
        var exitOfSample = new int[values.Samples];
        var thresholds = ThresholdCalibrator.Calibrate(values, shares, exitOfSample);
        Assert.Equal(ThresholdCalibrator.FilteredQuantileThresholds(values, shares), thresholds);
        var column = new double[values.Exits];
        for (int sample = 0; sample < values.Samples; sample++)
        {
            values.CopyColumn(sample, column);
            Assert.Equal(exitOfSample[sample], ThresholdCalibrator.ExitIndex(column, thresholds));
        }
    }

    private static ValuesMatrix Matrix(params double[][] rows)
    {
        var matrix = new ValuesMatrix(rows.Length, rows[0].Length);
        for (int exit = 0; exit < rows.Length; exit++)
        {
            for (int sample = 0; sample < rows[exit].Length; sample++)
            {
                matrix[exit, sample] = rows[exit][sample];
            }
        }

        return matrix;
    }
}
