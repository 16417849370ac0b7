namespace A1Fleet.EarlyExit;

/// <summary>
/// Filtered-quantile threshold calibration and the runtime exit rule it is calibrated for
/// (spec "Exits" and "Threshold calibration", step 3).
/// </summary>
public static class ThresholdCalibrator
{
    // Shares come out of a floating-point normalisation, so N * p_k can read 2.9999999999999996
    // where the intended quota is 3; the nudge is far below 1/N for any realistic N.
    private const double QuotaFloorGuard = 1e-9;

    /// <summary>
    /// Thresholds T_k such that, on the calibration samples, about a share p_k exits at exit k.
    /// For k = 0..E-2: n_k = floor(N p_k); row k is walked in ascending order counting only the
    /// samples no earlier exit took, and T_k is the value at which the count reaches n_k; then every
    /// sample with V[k] &lt;= T_k is taken by exit k. T_{E-1} = +Infinity.
    /// </summary>
    /// <remarks>
    /// <para>Ties: every unassigned sample whose value equals T_k is taken, so exit k can take more
    /// than n_k samples (a constant row takes them all). That is the spec's rule, and it is what
    /// makes the calibration agree with the runtime test <c>d &lt;= T_k</c>.</para>
    /// <para>Exit off: when n_k = 0, or fewer than n_k unassigned samples remain, T_k = -Infinity.</para>
    /// <para>NaN values mean "never exits here": they sort after every number, are never counted
    /// towards n_k and are never taken (as at runtime, where NaN &lt;= T is false).</para>
    /// <para>Order is deterministic: equal values are ordered by sample index.</para>
    /// </remarks>
    /// <param name="values">The calibration values matrix.</param>
    /// <param name="shares">Target shares p_k, one per exit, each in [0, 1].</param>
    /// <exception cref="ArgumentException">
    /// Share count differs from the exit count, a share outside [0, 1], or a -Infinity value
    /// (it would pass even a switched-off exit's -Infinity threshold).
    /// </exception>
    public static double[] FilteredQuantileThresholds(ValuesMatrix values, ReadOnlySpan<double> shares) =>
        Calibrate(values, shares, exitOfSample: null);

    /// <summary>
    /// <see cref="FilteredQuantileThresholds"/>, also recording in <paramref name="exitOfSample"/>
    /// the exit each sample was assigned to (the last exit for those no earlier exit took).
    /// </summary>
    internal static double[] Calibrate(ValuesMatrix values, ReadOnlySpan<double> shares, int[]? exitOfSample)
    {
        ArgumentNullException.ThrowIfNull(values);
        ValidateShares(values.Exits, shares);
        int exits = values.Exits;
        int samples = values.Samples;
        for (int exit = 0; exit < exits; exit++)
        {
            int sample = values.Row(exit).IndexOf(double.NegativeInfinity);
            if (sample >= 0)
            {
                throw new ArgumentException(
                    $"Value at exit {exit}, sample {sample} is -Infinity; a discrepancy cannot be, and it would pass a switched-off exit.",
                    nameof(values));
            }
        }

        if (exitOfSample is not null)
        {
            if (exitOfSample.Length != samples)
            {
                throw new ArgumentException($"Assignment buffer holds {exitOfSample.Length} entries; there are {samples} samples.", nameof(exitOfSample));
            }

            Array.Fill(exitOfSample, exits - 1);
        }

        var thresholds = new double[exits];
        var assigned = new bool[samples];
        var order = new int[samples];
        for (int exit = 0; exit < exits - 1; exit++)
        {
            var (storage, offset) = values.RowStorage(exit);
            var row = values.Row(exit);
            for (int i = 0; i < samples; i++)
            {
                order[i] = i;
            }

            order.AsSpan().Sort(new AscendingNaNLast(storage, offset));

            int quota = (int)Math.Floor((samples * shares[exit]) + QuotaFloorGuard);
            double threshold = double.NegativeInfinity;
            if (quota > 0)
            {
                int counted = 0;
                foreach (int sample in order)
                {
                    double value = row[sample];
                    if (double.IsNaN(value))
                    {
                        break;
                    }

                    if (!assigned[sample] && ++counted == quota)
                    {
                        threshold = value;
                        break;
                    }
                }
            }

            thresholds[exit] = threshold;
            if (double.IsNegativeInfinity(threshold))
            {
                continue;
            }

            for (int sample = 0; sample < samples; sample++)
            {
                if (!assigned[sample] && row[sample] <= threshold)
                {
                    assigned[sample] = true;
                    if (exitOfSample is not null)
                    {
                        exitOfSample[sample] = exit;
                    }
                }
            }
        }

        thresholds[exits - 1] = double.PositiveInfinity;
        return thresholds;
    }

    /// <summary>
    /// The runtime exit rule: the first exit k whose discrepancy d_k &lt;= T_k, else the last exit.
    /// A NaN discrepancy never passes; a -Infinity threshold switches its exit off.
    /// </summary>
    /// <exception cref="ArgumentException">The spans differ in length or are empty.</exception>
    public static int ExitIndex(ReadOnlySpan<double> sampleValuesPerExit, ReadOnlySpan<double> thresholds)
    {
        if (thresholds.IsEmpty)
        {
            throw new ArgumentException("At least one threshold is needed.", nameof(thresholds));
        }

        if (sampleValuesPerExit.Length != thresholds.Length)
        {
            throw new ArgumentException(
                $"Got {sampleValuesPerExit.Length} discrepancies for {thresholds.Length} thresholds.",
                nameof(sampleValuesPerExit));
        }

        for (int exit = 0; exit < thresholds.Length - 1; exit++)
        {
            if (sampleValuesPerExit[exit] <= thresholds[exit])
            {
                return exit;
            }
        }

        return thresholds.Length - 1;
    }

    /// <summary>Share of the samples that <see cref="ExitIndex"/> sends to each exit.</summary>
    /// <exception cref="ArgumentException">No samples, or a threshold count different from the exit count.</exception>
    public static double[] RealisedShares(ValuesMatrix values, ReadOnlySpan<double> thresholds)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (thresholds.Length != values.Exits)
        {
            throw new ArgumentException($"Got {thresholds.Length} thresholds for {values.Exits} exits.", nameof(thresholds));
        }

        if (values.Samples == 0)
        {
            throw new ArgumentException("The matrix has no samples; shares are undefined.", nameof(values));
        }

        var shares = new double[values.Exits];
        var column = new double[values.Exits];
        for (int sample = 0; sample < values.Samples; sample++)
        {
            values.CopyColumn(sample, column);
            shares[ExitIndex(column, thresholds)]++;
        }

        for (int exit = 0; exit < shares.Length; exit++)
        {
            shares[exit] /= values.Samples;
        }

        return shares;
    }

    /// <summary>
    /// LM blocks a request that exits at 0-based <paramref name="exitLayer"/> runs: blocks 0..l when
    /// <paramref name="exitBlockRuns"/> (a flow-matching expert attends to block l's K/V), 0..l-1 when not (an MLP head
    /// reads the stream entering block l).
    /// </summary>
    public static int BlocksRun(int exitLayer, bool exitBlockRuns) => exitBlockRuns ? exitLayer + 1 : exitLayer;

    /// <summary>
    /// Expected fraction of LLM layers executed: sum_k share_k * blocks run at exitLayers[k] / totalLayers. Exit layers
    /// are 0-based; a request that exits at layer l runs blocks 0..l when <paramref name="exitBlockRuns"/> (a
    /// flow-matching expert attends to block l's K/V), or blocks 0..l-1 when not (an MLP head reads the stream entering
    /// block l, A1's convention, so the engine does not run block l).
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, totalLayers &lt; 1, or an exit layer outside [0, totalLayers).</exception>
    public static double ExpectedLayerFraction(ReadOnlySpan<double> shares, IReadOnlyList<int> exitLayers, int totalLayers, bool exitBlockRuns)
    {
        ArgumentNullException.ThrowIfNull(exitLayers);
        if (totalLayers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(totalLayers), totalLayers, "At least one layer is needed.");
        }

        if (shares.Length != exitLayers.Count)
        {
            throw new ArgumentException($"Got {shares.Length} shares for {exitLayers.Count} exit layers.", nameof(shares));
        }

        double layersRun = 0;
        for (int exit = 0; exit < shares.Length; exit++)
        {
            int layer = exitLayers[exit];
            if (layer < 0 || layer >= totalLayers)
            {
                throw new ArgumentException($"Exit layer {layer} (exit {exit}) is outside [0, {totalLayers}).", nameof(exitLayers));
            }

            layersRun += shares[exit] * BlocksRun(layer, exitBlockRuns);
        }

        return layersRun / totalLayers;
    }

    private static void ValidateShares(int exits, ReadOnlySpan<double> shares)
    {
        if (shares.Length != exits)
        {
            throw new ArgumentException($"Got {shares.Length} shares for {exits} exits.", nameof(shares));
        }

        for (int exit = 0; exit < shares.Length; exit++)
        {
            if (!(shares[exit] >= 0 && shares[exit] <= 1))
            {
                throw new ArgumentException($"Share {shares[exit]} at exit {exit} is outside [0, 1].", nameof(shares));
            }
        }
    }

    /// <summary>Ascending by value with NaN after everything, ties broken by sample index: a total order, so any sort is deterministic.</summary>
    private readonly struct AscendingNaNLast(double[] storage, int offset) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            double valueX = storage[offset + x];
            double valueY = storage[offset + y];
            bool nanX = double.IsNaN(valueX);
            bool nanY = double.IsNaN(valueY);
            if (nanX != nanY)
            {
                return nanX ? 1 : -1;
            }

            if (valueX < valueY)
            {
                return -1;
            }

            if (valueX > valueY)
            {
                return 1;
            }

            return x.CompareTo(y);
        }
    }
}
