using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Tests.Support;

/// <summary>Random graph inputs for a config at batch 2, with padded key positions in attn_bias.</summary>
internal sealed class RandomInputs(ReferenceModelConfig config, ulong seed = 99)
{
    public const int Batch = 2;

    private readonly Xoshiro256StarStar random = new(seed);

    public float[] Gaussian(int count) => Enumerable.Range(0, count).Select(_ => (float)random.NextGaussian()).ToArray();

    public float[] Uniform(int count, double min, double max) =>
        Enumerable.Range(0, count).Select(_ => (float)random.NextDouble(min, max)).ToArray();

    public float[] Images() => Uniform(Batch * config.Cameras.Count * 3 * config.ImageSize * config.ImageSize, 0, 1);

    public long[] TokenIds() => Enumerable.Range(0, Batch * config.MaxTokens).Select(_ => (long)random.NextInt(config.Vocabulary.Count)).ToArray();

    public float[] State() => Uniform(Batch * config.StateDim, -1, 1);

    public float[] Hidden() => Gaussian(Batch * config.SequenceLength * config.Hidden);

    public float[] PrefixKeyOrValue() => Gaussian(Batch * config.KvHeads * config.SequenceLength * config.HeadDim);

    public float[] SuffixHidden() => Gaussian(Batch * config.SuffixTokens * config.ExpertHidden);

    /// <summary>
    /// Item 0 pads its last two instruction tokens, item 1 all but its first instruction token, as
    /// the engine does for short instructions.
    /// </summary>
    public float[] AttentionBias()
    {
        int n = config.SequenceLength;
        int instructionEnd = config.FirstInstructionToken + config.MaxTokens;
        var bias = new float[Batch * n];
        for (int position = instructionEnd - 2; position < instructionEnd; position++)
        {
            bias[position] = GraphIo.MaskedBias;
        }

        for (int position = config.FirstInstructionToken + 1; position < instructionEnd; position++)
        {
            bias[n + position] = GraphIo.MaskedBias;
        }

        return bias;
    }
}
