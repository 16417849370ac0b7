using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class RandomnessTests
{
    [Fact]
    public void NextUInt64_StateOneTwoThreeFour_MatchesReferenceVector()
    {
        // First outputs of xoshiro256** from state {1, 2, 3, 4}, as in the authors' reference code.
        var random = Xoshiro256StarStar.FromState(1, 2, 3, 4);
        ulong[] expected = [11520, 0, 1509978240, 1215971899390074240];
        Assert.Equal(expected, Enumerable.Range(0, 4).Select(_ => random.NextUInt64()));
    }

    [Fact]
    public void SplitMix64_Seed1234567_MatchesReferenceVector()
    {
        var random = new SplitMix64(1234567);
        ulong[] expected = [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821];
        Assert.Equal(expected, Enumerable.Range(0, 5).Select(_ => random.Next()));
    }

    [Fact]
    public void ForStream_SameSeedAndName_SameSequence()
    {
        var a = Xoshiro256StarStar.ForStream(7, "lm.00.attn.q.weight");
        var b = Xoshiro256StarStar.ForStream(7, "lm.00.attn.q.weight");
        Assert.Equal(Enumerable.Range(0, 8).Select(_ => a.NextUInt64()), Enumerable.Range(0, 8).Select(_ => b.NextUInt64()));
    }

    [Theory]
    [InlineData(7, "lm.00.attn.k.weight")]
    [InlineData(8, "lm.00.attn.q.weight")]
    public void ForStream_OtherSeedOrName_DifferentSequence(ulong seed, string name)
    {
        var reference = Xoshiro256StarStar.ForStream(7, "lm.00.attn.q.weight");
        var other = Xoshiro256StarStar.ForStream(seed, name);
        Assert.NotEqual(Enumerable.Range(0, 8).Select(_ => reference.NextUInt64()), Enumerable.Range(0, 8).Select(_ => other.NextUInt64()));
    }

    [Fact]
    public void NextGaussian_ManyDraws_HasStandardNormalMoments()
    {
        var random = new Xoshiro256StarStar(42);
        double[] draws = Enumerable.Range(0, 200_000).Select(_ => random.NextGaussian()).ToArray();
        double mean = draws.Average();
        double variance = draws.Average(d => (d - mean) * (d - mean));
        double withinOneSigma = draws.Count(d => Math.Abs(d) < 1) / (double)draws.Length;
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        Assert.InRange(withinOneSigma, 0.678, 0.687);
    }

    [Fact]
    public void NextDouble_ManyDraws_StaysInUnitInterval()
    {
        var random = new Xoshiro256StarStar(3);
        Assert.All(Enumerable.Range(0, 10_000).Select(_ => random.NextDouble()), d => Assert.InRange(d, 0.0, 0.9999999999));
    }
}
