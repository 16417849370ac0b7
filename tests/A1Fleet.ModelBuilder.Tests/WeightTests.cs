using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class WeightTests
{
    private static readonly ReferenceWeights SmallFm = ReferenceWeights.Generate(ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm));

    [Fact]
    public void Generate_LinearWeight_StdIsInverseSqrtFanIn()
    {
        AssertStd(SmallFm[WeightNames.Weight(WeightNames.Gate(WeightNames.LmBlock(0)))], 1.0 / Math.Sqrt(256));
        AssertStd(SmallFm[WeightNames.Weight(WeightNames.Down(WeightNames.ExpertBlock(3)))], 1.0 / Math.Sqrt(256) / Math.Sqrt(24));
    }

    [Fact]
    public void Generate_ResidualOutputProjection_ScaledByInverseSqrtTwiceDepth()
    {
        AssertStd(SmallFm[WeightNames.Weight(WeightNames.AttentionOut(WeightNames.LmBlock(5)))], 1.0 / Math.Sqrt(256) / Math.Sqrt(2 * 12));
        AssertStd(SmallFm[WeightNames.Weight(WeightNames.Down(WeightNames.VisionBlock(1)))], 1.0 / Math.Sqrt(768) / Math.Sqrt(2 * 3));
    }

    [Fact]
    public void Generate_NormsBiasesEmbeddings_FollowTheirRules()
    {
        var scale = SmallFm[WeightNames.Scale(WeightNames.Norm1(WeightNames.LmBlock(2)))];
        Assert.All(scale.Data, v => Assert.InRange(v, 0.9f, 1.1f));
        AssertStd(SmallFm[WeightNames.Bias(WeightNames.Gate(WeightNames.LmBlock(2)))], 0.02, tolerance: 0.1);
        AssertStd(SmallFm[WeightNames.TokenEmbedding], 1.0);
    }

    [Fact]
    public void Generate_TwiceSameConfig_IdenticalTensors()
    {
        var config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm);
        var a = ReferenceWeights.Generate(config);
        var b = ReferenceWeights.Generate(config);
        Assert.Equal(a.Ordered.Select(t => t.Name), b.Ordered.Select(t => t.Name));
        Assert.All(a.Ordered.Zip(b.Ordered), pair => Assert.Equal(pair.First.Data, pair.Second.Data));
    }

    [Fact]
    public void Generate_FmAndMlpPresetsSameSeed_ShareBackboneValues()
    {
        // Values depend only on (seed, tensor name), so the tiny pair has one backbone.
        var fm = ReferenceWeights.Generate(ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm));
        var mlp = ReferenceWeights.Generate(ReferenceModelPresets.Get(ReferenceModelPresets.TinyMlp));
        string name = WeightNames.Weight(WeightNames.Query(WeightNames.LmBlock(4)));
        Assert.Equal(fm[name].Data, mlp[name].Data);
    }

    [Fact]
    public void ParameterCountsByPart_TinyFm_MatchArchitectureFormula()
    {
        var c = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm);
        var counts = ReferenceWeights.Generate(c).ParameterCountsByPart().ToDictionary();
        long Block(int width, int mlp) => (2 * 2 * width) + (3 * ((width * 32) + 32)) + ((32 * width) + width)
            + (2 * ((width * mlp) + mlp)) + ((mlp * width) + width);
        long d = c.Hidden;
        long prefix = ((192 + 1) * d) + (4 * d) + Block(32, 64) + ((6 + 1) * d) + (c.Vocabulary.Count * d) + (8 * d);
        Assert.Equal(prefix, counts[WeightParts.Prefix]);
        Assert.Equal(6 * Block(32, 64), counts[WeightParts.LmLayers]);
        Assert.Equal(6 * Block(32, 64), counts[WeightParts.ExpertLayers]);
        Assert.Equal(counts.Values.Sum(), ReferenceWeights.Generate(c).TotalParameters);
    }

    private static void AssertStd(WeightTensor tensor, double expected, double tolerance = 0.03)
    {
        double mean = tensor.Data.Average(v => (double)v);
        double std = Math.Sqrt(tensor.Data.Average(v => ((double)v - mean) * ((double)v - mean)));
        Assert.InRange(std, expected * (1 - tolerance), expected * (1 + tolerance));
    }
}
