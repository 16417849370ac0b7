using System.ComponentModel;
using System.Globalization;

namespace A1Fleet.EarlyExit.Tests.Decoding;

using Decoding = A1Fleet.EarlyExit.Decoding;

/// <summary>The one list of decoding names, read by configuration, command lines and calibration specs.</summary>
public sealed class DecodingsTests
{
    [Theory]
    [InlineData("exit-warm-k2", Decoding.ExitWarmK2)]
    [InlineData("exit-cold-k2", Decoding.ExitColdK2)]
    [InlineData("Exit-Cold-K10", Decoding.ExitColdK10)]
    [InlineData("full-k10", Decoding.FullK10)]
    [InlineData("exit", Decoding.ExitWarmK2)]
    [InlineData("full", Decoding.FullK10)]
    [InlineData("FullK10", Decoding.FullK10)]
    public void TryParse_KnownName_ReadsIt(string text, Decoding expected)
    {
        Assert.True(Decodings.TryParse(text, out var decoding));
        Assert.Equal(expected, decoding);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("exit-warm-k3")]
    [InlineData("2")]
    [InlineData("99")]
    public void TryParse_NotAName_IsRefused(string? text) => Assert.False(Decodings.TryParse(text, out _));

    [Fact]
    public void Name_EveryDecoding_ReadsBackToItself()
    {
        foreach (var decoding in Decodings.All)
        {
            Assert.Equal(decoding, Decodings.Parse(Decodings.Name(decoding)));
        }
    }

    [Fact]
    public void EarlyExitProblem_FullDepth_SaysCalibrationNeedsAnExitAndListsThem()
    {
        var problem = Decodings.EarlyExitProblem("full-k10", out _);
        Assert.NotNull(problem);
        Assert.Contains("exit-warm-k2", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("full-k10,", problem, StringComparison.Ordinal);
        Assert.Null(Decodings.EarlyExitProblem("exit-cold-k2", out var decoding));
        Assert.Equal(Decoding.ExitColdK2, decoding);
    }

    [Fact]
    public void Converter_ReadsAndWritesTheNames()
    {
        var converter = TypeDescriptor.GetConverter(typeof(Decoding));
        Assert.Equal(Decoding.ExitColdK10, converter.ConvertFrom(null, CultureInfo.InvariantCulture, "exit-cold-k10"));
        Assert.Equal("exit-warm-k2", converter.ConvertTo(null, CultureInfo.InvariantCulture, Decoding.ExitWarmK2, typeof(string)));
        Assert.Throws<FormatException>(() => converter.ConvertFrom(null, CultureInfo.InvariantCulture, "fast"));
    }
}
