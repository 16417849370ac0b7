namespace A1Fleet.EarlyExit.Tests.Calibration;

public sealed class ValuesMatrixTests
{
    [Fact]
    public void FromColumns_PerSampleArrays_LaysOutExitRows()
    {
        var matrix = ValuesMatrix.FromColumns([[0.1, 0.2, 0.3], [1.1, 1.2, 1.3]]);

        Assert.Equal(3, matrix.Exits);
        Assert.Equal(2, matrix.Samples);
        Assert.Equal([0.1, 1.1], matrix.Row(0).ToArray());
        Assert.Equal([0.3, 1.3], matrix.Row(2).ToArray());
        Assert.Equal(1.2, matrix[1, 1]);
    }

    [Fact]
    public void FromColumns_RaggedColumns_ThrowsNamingTheSample()
    {
        var error = Assert.Throws<ArgumentException>(() => ValuesMatrix.FromColumns([[0.1, 0.2], [1.1, 1.2], [2.1]]));

        Assert.Contains("Sample 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromColumns_NoSamples_Throws()
    {
        Assert.Throws<ArgumentException>(() => ValuesMatrix.FromColumns([]));
    }

    [Fact]
    public void Indexer_SetThenGet_RoundTripsAndChecksBounds()
    {
        var matrix = new ValuesMatrix(2, 3) { [1, 2] = 4.5 };

        Assert.Equal(4.5, matrix[1, 2]);
        Assert.Equal(0.0, matrix[0, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => matrix[2, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => matrix[0, 3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => matrix[-1, 0]);
    }

    [Fact]
    public void CopyColumn_Sample_ReturnsValuesInExitOrder()
    {
        var matrix = ValuesMatrix.FromColumns([[0.1, 0.2, 0.3], [1.1, 1.2, 1.3]]);
        var column = new double[3];

        matrix.CopyColumn(1, column);

        Assert.Equal([1.1, 1.2, 1.3], column);
    }

    [Fact]
    public void Concat_ShardsOfRandomSizes_EqualsWholeMatrix()
    {
        var random = new Random(17);
        var whole = RandomMatrix(random, exits: 5, samples: 103);
        var shards = new List<ValuesMatrix>();
        int start = 0;
        foreach (int size in new[] { 0, 40, 1, 0, 37, 25 })
        {
            shards.Add(Slice(whole, start, size));
            start += size;
        }

        Assert.Equal(whole.Samples, start);
        var joined = ValuesMatrix.Concat(shards);

        Assert.Equal(whole.Exits, joined.Exits);
        Assert.Equal(whole.Samples, joined.Samples);
        for (int exit = 0; exit < whole.Exits; exit++)
        {
            Assert.Equal(whole.Row(exit).ToArray(), joined.Row(exit).ToArray());
        }
    }

    [Fact]
    public void Concat_DifferentSplits_GiveTheSameThresholds()
    {
        var random = new Random(5);
        var whole = RandomMatrix(random, exits: 6, samples: 500);
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 0.7, 6);
        var halves = ValuesMatrix.Concat([Slice(whole, 0, 250), Slice(whole, 250, 250)]);
        var uneven = ValuesMatrix.Concat([Slice(whole, 0, 3), Slice(whole, 3, 400), Slice(whole, 403, 97)]);

        var expected = ThresholdCalibrator.FilteredQuantileThresholds(whole, shares);

        Assert.Equal(expected, ThresholdCalibrator.FilteredQuantileThresholds(halves, shares));
        Assert.Equal(expected, ThresholdCalibrator.FilteredQuantileThresholds(uneven, shares));
    }

    [Fact]
    public void Concat_MismatchedExitCounts_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => ValuesMatrix.Concat([new ValuesMatrix(3, 2), new ValuesMatrix(4, 2)]));

        Assert.Contains("Shard 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Concat_NoShards_Throws()
    {
        Assert.Throws<ArgumentException>(() => ValuesMatrix.Concat([]));
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(3, -1)]
    public void Constructor_InvalidSize_Throws(int exits, int samples)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ValuesMatrix(exits, samples));
    }

    internal static ValuesMatrix RandomMatrix(Random random, int exits, int samples)
    {
        var matrix = new ValuesMatrix(exits, samples);
        for (int sample = 0; sample < samples; sample++)
        {
            double scale = random.NextDouble();
            for (int exit = 0; exit < exits; exit++)
            {
                // Discrepancies shrink with depth, as consecutive exits agree more.
                matrix[exit, sample] = scale * Math.Pow(0.7, exit) * (0.5 + random.NextDouble());
            }
        }

        return matrix;
    }

    private static ValuesMatrix Slice(ValuesMatrix source, int start, int count)
    {
        var slice = new ValuesMatrix(source.Exits, count);
        for (int exit = 0; exit < source.Exits; exit++)
        {
            for (int sample = 0; sample < count; sample++)
            {
                slice[exit, sample] = source[exit, start + sample];
            }
        }

        return slice;
    }
}
