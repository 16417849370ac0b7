using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Oracle;
using A1Fleet.ModelBuilder.Tests.Support;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Tests;

/// <summary>
/// The random weights must make early exit meaningful: the stream changes a little per layer, so the
/// head's actions at consecutive exits are close (exits can fire) but never equal (so they are not trivial).
/// </summary>
public sealed class EarlyExitBehaviourTests
{
    private readonly ReferenceModelConfig config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyMlp);

    [Fact]
    public void LmLayers_TinyMlp_EachLayerChangesTheStreamGradually()
    {
        foreach (var (before, after) in StreamsAfterEachLayer().Prepend(Prefix()).Zip(StreamsAfterEachLayer()))
        {
            double relativeChange = Rms(before.Zip(after, (a, b) => a - b).ToArray()) / Rms(before);
            Assert.InRange(relativeChange, 0.02, 0.5);
        }
    }

    [Fact]
    public void MlpHead_TinyMlpConsecutiveExits_SimilarButNotEqual()
    {
        var oracle = new ReferenceOracle(ReferenceWeights.Generate(config));
        // The head at exit l reads the stream entering block l: the prefix, then each layer's output.
        var streams = StreamsAfterEachLayer().Prepend(Prefix()).ToList();
        var exits = config.ExitLayers().Select(layer => oracle.MlpHead(streams[layer])).ToList();
        foreach (var (previous, current) in exits.Zip(exits.Skip(1)))
        {
            Assert.InRange(CosineDiscrepancy(previous, current, config.ActionDim), 1e-4, 0.3);
        }
    }

    private float[] Prefix()
    {
        var inputs = new RandomInputs(config);
        return new ReferenceOracle(ReferenceWeights.Generate(config)).Prefix(inputs.Images(), inputs.TokenIds(), inputs.State());
    }

    private List<float[]> StreamsAfterEachLayer()
    {
        var oracle = new ReferenceOracle(ReferenceWeights.Generate(config));
        float[] bias = new RandomInputs(config).AttentionBias();
        var streams = new List<float[]>();
        float[] hidden = Prefix();
        for (int layer = 0; layer < config.LmLayers; layer++)
        {
            hidden = oracle.LmLayer(layer, hidden, bias).Hidden;
            streams.Add(hidden);
        }

        return streams;
    }

    private static double Rms(float[] x) => Math.Sqrt(x.Average(v => (double)v * v));

    /// <summary>The spec's cosine metric: 1 - cos per chunk step along the action dims (eps 1e-5), averaged over steps.</summary>
    private static double CosineDiscrepancy(float[] a, float[] b, int dims)
    {
        int steps = a.Length / dims;
        double total = 0;
        for (int step = 0; step < steps; step++)
        {
            double dot = 0, normA = 0, normB = 0;
            for (int d = 0; d < dims; d++)
            {
                int i = (step * dims) + d;
                dot += (double)a[i] * b[i];
                normA += (double)a[i] * a[i];
                normB += (double)b[i] * b[i];
            }

            total += 1 - (dot / Math.Max(Math.Sqrt(normA), 1e-5) / Math.Max(Math.Sqrt(normB), 1e-5));
        }

        return total / steps;
    }
}
