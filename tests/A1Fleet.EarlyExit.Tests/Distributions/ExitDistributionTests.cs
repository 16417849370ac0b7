namespace A1Fleet.EarlyExit.Tests.Distributions;

public sealed class ExitDistributionTests
{
    private const double Tolerance = 1e-12;

    [Fact]
    public void TargetShares_ExpWithROne_IsUniform()
    {
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 1.0, 4);

        Assert.Equal([0.25, 0.25, 0.25, 0.25], shares);
    }

    [Fact]
    public void TargetShares_ExpWithRHalf_HalvesEachExit()
    {
        // 0.5, 0.25, 0.125 normalised by 0.875.
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 0.5, 3);

        AssertShares([4.0 / 7, 2.0 / 7, 1.0 / 7], shares);
    }

    [Fact]
    public void TargetShares_GaussCentredOnMiddleExit_IsSymmetric()
    {
        // exp(-1/2), 1, exp(-1/2) normalised.
        var shares = ExitDistribution.TargetShares(ExitFamily.Gauss, 1.0, 3);

        AssertShares([0.274068619061197, 0.45186276187760605, 0.274068619061197], shares);
    }

    [Fact]
    public void TargetShares_GaussCentreIsZeroBased_PeaksAtExitIndexR()
    {
        var shares = ExitDistribution.TargetShares(ExitFamily.Gauss, 0.0, 5);

        Assert.Equal(0, Array.IndexOf(shares, shares.Max()));
        Assert.Equal(Math.Exp(-0.5), shares[1] / shares[0], Tolerance);
    }

    [Fact]
    public void TargetShares_GammaShapeTwo_MatchesKTimesExpMinusKOverTwo()
    {
        // pdf(k; 2, 2) is proportional to k e^{-k/2}: 0.60653, 0.73576, 0.66939 normalised.
        var shares = ExitDistribution.TargetShares(ExitFamily.Gamma, 2.0, 3);

        AssertShares([0.30150453995095533, 0.36574349504561393, 0.33275196500343074], shares);
    }

    [Theory]
    [InlineData(ExitFamily.Exp, 0.1, 14)]
    [InlineData(ExitFamily.Exp, 0.7, 14)]
    [InlineData(ExitFamily.Exp, 3.0, 5)]
    [InlineData(ExitFamily.Gauss, 4.5, 14)]
    [InlineData(ExitFamily.Gauss, -2.0, 3)]
    [InlineData(ExitFamily.Gamma, 0.5, 14)]
    [InlineData(ExitFamily.Gamma, 7.0, 14)]
    [InlineData(ExitFamily.Exp, 0.3, 1)]
    public void TargetShares_AnyFamily_SumsToOneAndIsNonNegative(ExitFamily family, double r, int exits)
    {
        var shares = ExitDistribution.TargetShares(family, r, exits);

        Assert.Equal(exits, shares.Length);
        Assert.Equal(1.0, shares.Sum(), 1e-12);
        Assert.All(shares, share => Assert.InRange(share, 0.0, 1.0));
    }

    [Fact]
    public void TargetShares_ExpWithRBelowOne_FavoursEarlyExits()
    {
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 0.4, 14);

        for (int k = 1; k < shares.Length; k++)
        {
            Assert.Equal(0.4, shares[k] / shares[k - 1], 1e-9);
        }
    }

    [Fact]
    public void TargetShares_ForbidFirstExit_ZeroesFirstAndRenormalises()
    {
        var shares = ExitDistribution.TargetShares(ExitFamily.Exp, 1.0, 4, forbidFirstExit: true);

        AssertShares([0, 1.0 / 3, 1.0 / 3, 1.0 / 3], shares);
    }

    [Fact]
    public void TargetShares_ForbidOnlyExit_ThrowsBecauseNoMassLeft()
    {
        var error = Assert.Throws<ArgumentException>(() => ExitDistribution.TargetShares(ExitFamily.Exp, 1.0, 1, forbidFirstExit: true));

        Assert.Contains("no mass", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TargetShares_FarGaussCentre_DoesNotUnderflowToNaN()
    {
        // exp(-(1000 - k)^2 / 2) is 0 in double for every k; log space keeps the shape.
        var shares = ExitDistribution.TargetShares(ExitFamily.Gauss, 1000.0, 3);

        AssertShares([0, 0, 1], shares);
    }

    [Theory]
    [InlineData(ExitFamily.Exp, 1.0, 0)]
    [InlineData(ExitFamily.Exp, 0.0, 3)]
    [InlineData(ExitFamily.Exp, -0.5, 3)]
    [InlineData(ExitFamily.Gamma, 0.0, 3)]
    [InlineData(ExitFamily.Gauss, double.NaN, 3)]
    [InlineData(ExitFamily.Gauss, double.PositiveInfinity, 3)]
    [InlineData(ExitFamily.Exp, double.PositiveInfinity, 3)]
    public void TargetShares_InvalidParameters_Throw(ExitFamily family, double r, int exits)
    {
        Assert.ThrowsAny<ArgumentException>(() => ExitDistribution.TargetShares(family, r, exits));
    }

    [Fact]
    public void TargetShares_GaussWithNegativeCentre_IsAllowed()
    {
        var shares = ExitDistribution.TargetShares(ExitFamily.Gauss, -1.0, 2);

        AssertShares([1 / (1 + Math.Exp(-1.5)), Math.Exp(-1.5) / (1 + Math.Exp(-1.5))], shares);
    }

    [Theory]
    [InlineData("exp", ExitFamily.Exp)]
    [InlineData("GAUSS", ExitFamily.Gauss)]
    [InlineData("Gamma", ExitFamily.Gamma)]
    public void ParseFamily_KnownNameAnyCase_ReturnsFamily(string name, ExitFamily expected)
    {
        Assert.Equal(expected, ExitDistribution.ParseFamily(name));
        Assert.Equal(name.ToLowerInvariant(), ExitDistribution.FamilyName(expected));
    }

    [Fact]
    public void ParseFamily_UnknownName_ThrowsListingValidNames()
    {
        var error = Assert.Throws<ArgumentException>(() => ExitDistribution.ParseFamily("poisson"));

        Assert.Contains("exp, gauss, gamma", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GammaLogPdf_ShapeTwoScaleTwoAtTwo_IsLogOfTwoOverFourE()
    {
        Assert.Equal(Math.Log(0.18393972058572117), ExitDistribution.GammaLogPdf(2, 2, 2), Tolerance);
    }

    private static void AssertShares(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            Assert.Equal(expected[k], actual[k], Tolerance);
        }
    }
}
