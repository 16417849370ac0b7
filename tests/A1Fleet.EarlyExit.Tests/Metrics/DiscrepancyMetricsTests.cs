namespace A1Fleet.EarlyExit.Tests.Metrics;

public sealed class DiscrepancyMetricsTests
{
    private const double Tolerance = 1e-12;

    // Two chunk steps over three dims: step 0 identical, step 1 a = (1, 0, 0), b = (0, 2, 0),
    // so |a - b| = (1, 2, 0) and a is orthogonal to b.
    private static readonly float[] ChunkA = [1, 2, 2, 1, 0, 0];
    private static readonly float[] ChunkB = [1, 2, 2, 0, 2, 0];
    private static readonly bool[] NoPadding = [false, false, false];

    [Theory]
    [InlineData(DiscrepancyMetric.Mean, 0.5)] // (0 + 3/3) / 2
    [InlineData(DiscrepancyMetric.L2, 0.6454972243679028)] // (0 + sqrt(5/3)) / 2
    [InlineData(DiscrepancyMetric.Max, 1.0)] // (0 + 2) / 2
    [InlineData(DiscrepancyMetric.Cosine, 0.5)] // (0 + (1 - 0)) / 2
    public void ChunkDiscrepancy_HandComputedChunks_MatchesHandValue(DiscrepancyMetric metric, double expected)
    {
        double actual = DiscrepancyMetrics.ChunkDiscrepancy(metric, ChunkA, ChunkB, chunk: 2, actionDim: 3, NoPadding);

        Assert.Equal(expected, actual, Tolerance);
    }

    [Fact]
    public void ChunkDiscrepancy_CosineAt45Degrees_IsOneMinusInverseSqrtTwo()
    {
        float[] a = [1, 1];
        float[] b = [1, 0];

        double actual = DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Cosine, a, b, 1, 2, [false, false]);

        Assert.Equal(1 - (1 / Math.Sqrt(2)), actual, Tolerance);
    }

    [Fact]
    public void ChunkDiscrepancy_CosineIsScaleInvariant_ButMeanIsNot()
    {
        float[] a = [1, 2, 3];
        float[] b = [2, 4, 6];

        Assert.Equal(0.0, DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Cosine, a, b, 1, 3, NoPadding), 1e-7);
        Assert.Equal(2.0, DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Mean, a, b, 1, 3, NoPadding), Tolerance);
    }

    [Theory]
    [InlineData(DiscrepancyMetric.Mean, 0.5)]
    [InlineData(DiscrepancyMetric.L2, 0.6454972243679028)]
    [InlineData(DiscrepancyMetric.Max, 1.0)]
    [InlineData(DiscrepancyMetric.Cosine, 0.5)]
    public void ChunkDiscrepancy_PaddedDims_AreExcluded(DiscrepancyMetric metric, double expected)
    {
        // Same chunks as above with a fourth, padded dim holding wildly different values.
        float[] a = [1, 2, 2, 100, 1, 0, 0, 100];
        float[] b = [1, 2, 2, -100, 0, 2, 0, -100];
        bool[] lastIsPadding = [false, false, false, true];

        double withMask = DiscrepancyMetrics.ChunkDiscrepancy(metric, a, b, 2, 4, lastIsPadding);
        double withoutMask = DiscrepancyMetrics.ChunkDiscrepancy(metric, a, b, 2, 4, [false, false, false, false]);

        Assert.Equal(expected, withMask, Tolerance);
        Assert.NotEqual(expected, withoutMask, 1e-3);
    }

    [Fact]
    public void ChunkDiscrepancy_PaddingInTheMiddle_MeanDividesByActiveDimsOnly()
    {
        float[] a = [1, 50, 3];
        float[] b = [2, -50, 1];

        double actual = DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Mean, a, b, 1, 3, [false, true, false]);

        Assert.Equal(1.5, actual, Tolerance); // (1 + 2) / 2, not / 3
    }

    [Fact]
    public void ChunkDiscrepancy_CosineWithZeroVector_IsOne()
    {
        float[] zero = [0, 0, 0];
        float[] other = [1, 2, 3];

        Assert.Equal(1.0, DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Cosine, zero, other, 1, 3, NoPadding), Tolerance);
        Assert.Equal(1.0, DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Cosine, zero, zero, 1, 3, NoPadding), Tolerance);
    }

    [Fact]
    public void ChunkDiscrepancy_CosineBelowEpsNorm_DividesByEpsLikeTorchNormalize()
    {
        // ||a|| = ||b|| = 1e-6 < eps: F.normalize scales by 1/eps, so cos = x^2 / eps^2 = 0.01, not 1.
        float[] tiny = [1e-6f, 0];
        double x = 1e-6f;

        double actual = DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Cosine, tiny, tiny, 1, 2, [false, false]);

        Assert.Equal(1 - (x * x / (DiscrepancyMetrics.CosineNormEpsilon * DiscrepancyMetrics.CosineNormEpsilon)), actual, 1e-12);
        Assert.Equal(0.99, actual, 1e-6);
    }

    [Fact]
    public void ChunkDiscrepancy_NaNInChunk_PropagatesNaNForEveryMetric()
    {
        float[] a = [1, float.NaN, 3];
        float[] b = [1, 2, 3];

        foreach (var metric in Enum.GetValues<DiscrepancyMetric>())
        {
            Assert.True(double.IsNaN(DiscrepancyMetrics.ChunkDiscrepancy(metric, a, b, 1, 3, NoPadding)), metric.ToString());
        }
    }

    [Fact]
    public void ChunkDiscrepancy_WrongChunkLength_ThrowsNamingTheSizes()
    {
        float[] shortChunk = [1, 2, 3, 4, 5];

        var error = Assert.Throws<ArgumentException>(() =>
            DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.L2, shortChunk, ChunkB, 2, 3, NoPadding));

        Assert.Contains("5", error.Message, StringComparison.Ordinal);
        Assert.Contains("6", error.Message, StringComparison.Ordinal);
        Assert.Equal("a", error.ParamName);
    }

    [Fact]
    public void ChunkDiscrepancy_WrongMaskLength_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.L2, ChunkA, ChunkB, 2, 3, [false, false]));

        Assert.Equal("isPadding", error.ParamName);
    }

    [Fact]
    public void ChunkDiscrepancy_AllDimsPadding_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            DiscrepancyMetrics.ChunkDiscrepancy(DiscrepancyMetric.Mean, ChunkA, ChunkB, 2, 3, [true, true, true]));

        Assert.Contains("padding", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChunkDiscrepancy_RepeatedCalls_AllocateNothing()
    {
        var a = new float[50 * 32];
        var b = new float[50 * 32];
        var padding = new bool[32];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = i % 7;
            b[i] = i % 5;
        }

        padding.AsSpan(7).Fill(true);
        foreach (var metric in Enum.GetValues<DiscrepancyMetric>())
        {
            DiscrepancyMetrics.ChunkDiscrepancy(metric, a, b, 50, 32, padding);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        double sink = 0;
        for (int call = 0; call < 100; call++)
        {
            sink += DiscrepancyMetrics.ChunkDiscrepancy((DiscrepancyMetric)(call % 4), a, b, 50, 32, padding);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(sink > 0);
    }

    [Theory]
    [InlineData("cosine", DiscrepancyMetric.Cosine)]
    [InlineData("COSINE", DiscrepancyMetric.Cosine)]
    [InlineData("L2", DiscrepancyMetric.L2)]
    [InlineData("Mean", DiscrepancyMetric.Mean)]
    [InlineData("max", DiscrepancyMetric.Max)]
    public void Parse_KnownNameAnyCase_ReturnsMetric(string name, DiscrepancyMetric expected)
    {
        Assert.Equal(expected, DiscrepancyMetrics.Parse(name));
    }

    [Fact]
    public void Parse_UnknownName_ThrowsListingValidNames()
    {
        var error = Assert.Throws<ArgumentException>(() => DiscrepancyMetrics.Parse("euclid"));

        Assert.Contains("euclid", error.Message, StringComparison.Ordinal);
        Assert.Contains("cosine, l2, mean, max", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DiscrepancyMetric.Cosine, "cosine")]
    [InlineData(DiscrepancyMetric.L2, "l2")]
    [InlineData(DiscrepancyMetric.Mean, "mean")]
    [InlineData(DiscrepancyMetric.Max, "max")]
    public void Name_EveryMetric_IsLowerCaseAndParsesBack(DiscrepancyMetric metric, string expected)
    {
        Assert.Equal(expected, DiscrepancyMetrics.Name(metric));
        Assert.Equal(metric, DiscrepancyMetrics.Parse(DiscrepancyMetrics.Name(metric)));
    }
}
