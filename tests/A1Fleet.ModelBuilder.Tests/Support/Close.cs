namespace A1Fleet.ModelBuilder.Tests.Support;

/// <summary>Float comparisons: absolute tolerance near zero, relative for large values.</summary>
internal static class Close
{
    public const double Tolerance = 1e-4;

    public static void Assert(float[] expected, GraphOutput actual, long[] expectedShape, string what)
    {
        Xunit.Assert.Equal(expectedShape, actual.Shape);
        Assert(expected, actual.Data, what);
    }

    public static void Assert(float[] expected, float[] actual, string what)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            Xunit.Assert.True(float.IsFinite(actual[i]), $"{what}[{i}] is {actual[i]}");
            double error = Math.Abs((double)actual[i] - expected[i]) / Math.Max(1.0, Math.Abs(expected[i]));
            if (error > worst)
            {
                worst = error;
                worstIndex = i;
            }
        }

        Xunit.Assert.True(worst <= Tolerance,
            $"{what}: worst error {worst:E2} at [{worstIndex}] (expected {expected[Math.Max(worstIndex, 0)]}, got {actual[Math.Max(worstIndex, 0)]})");
    }
}
