using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Weights;

/// <summary>
/// The random parameters of a reference model. Each tensor is drawn from its own xoshiro256** stream
/// seeded by (config.Seed, tensor name), so values depend on nothing else: the same config always
/// gives the same numbers, and adding a tensor never shifts the others.
/// Linear weights ~ N(0, 1/fan_in) (residual-stream writers further scaled by 1/sqrt(2 * depth)),
/// biases ~ N(0, 0.02^2), LayerNorm scales ~ 1 + N(0, 0.02^2), embeddings ~ N(0, 1).
/// </summary>
public sealed class ReferenceWeights
{
    private const double SmallStd = 0.02;

    private readonly Dictionary<string, WeightTensor> tensors;

    private ReferenceWeights(ReferenceModelConfig config, List<WeightTensor> ordered)
    {
        Config = config;
        Ordered = ordered;
        tensors = ordered.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public ReferenceModelConfig Config { get; }

    /// <summary>All tensors in layout order.</summary>
    public IReadOnlyList<WeightTensor> Ordered { get; }

    public WeightTensor this[string name] =>
        tensors.TryGetValue(name, out var tensor) ? tensor : throw new KeyNotFoundException($"No weight tensor '{name}'.");

    public bool Contains(string name) => tensors.ContainsKey(name);

    public static ReferenceWeights Generate(ReferenceModelConfig config)
    {
        config.Validate();
        var ordered = WeightLayout.For(config).Select(spec => Draw(config.Seed, spec)).ToList();
        return new ReferenceWeights(config, ordered);
    }

    /// <summary>Parameter counts by <see cref="WeightParts"/> value, in layout order.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> ParameterCountsByPart() =>
        Ordered.GroupBy(t => t.Part)
            .Select(g => new KeyValuePair<string, long>(g.Key, g.Sum(t => t.ElementCount)))
            .ToList();

    public long TotalParameters => Ordered.Sum(t => t.ElementCount);

    private static WeightTensor Draw(ulong seed, WeightSpec spec)
    {
        var random = Xoshiro256StarStar.ForStream(seed, spec.Name);
        int count = spec.Shape.Aggregate(1, (a, b) => checked(a * b));
        var data = new float[count];
        int fanIn = spec.FanIn > 0 ? spec.FanIn : spec.Shape[0];
        (double mean, double std) = spec.Init switch
        {
            WeightInit.Linear => (0.0, spec.ExtraScale / Math.Sqrt(fanIn)),
            WeightInit.Bias => (0.0, SmallStd),
            WeightInit.NormScale => (1.0, SmallStd),
            WeightInit.Embedding => (0.0, 1.0),
            _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Init, "unknown init"),
        };
        for (int i = 0; i < count; i++)
        {
            data[i] = (float)(mean + (std * random.NextGaussian()));
        }

        return new WeightTensor(spec.Name, spec.Shape, data, spec.Part);
    }
}
