namespace A1Fleet.EarlyExit.Tests.Distributions;

public sealed class SpecialFunctionsTests
{
    [Theory]
    [InlineData(1.0, 0.0)]
    [InlineData(2.0, 0.0)]
    [InlineData(0.5, 0.5723649429247004)] // ln sqrt(pi)
    [InlineData(10.0, 12.801827480081467)] // ln 9!
    [InlineData(0.1, 2.2527126517342055)]
    [InlineData(3.7, 1.4280723266653883)]
    public void LogGamma_KnownPoints_MatchesReferenceValues(double x, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.LogGamma(x), 1e-13);
    }

    [Fact]
    public void LogGamma_LargeArgument_MatchesStirlingWithCorrection()
    {
        double x = 200;
        double stirling = ((x - 0.5) * Math.Log(x)) - x + (0.5 * Math.Log(2 * Math.PI)) + (1 / (12 * x)) - (1 / (360 * x * x * x));

        Assert.Equal(stirling, SpecialFunctions.LogGamma(x), 1e-9);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.5)]
    [InlineData(double.NaN)]
    public void LogGamma_NonPositiveOrNaN_Throws(double x)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SpecialFunctions.LogGamma(x));
    }
}
