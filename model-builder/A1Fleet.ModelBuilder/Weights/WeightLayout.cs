using A1Fleet.ModelBuilder.Config;
using static A1Fleet.ModelBuilder.Weights.WeightNames;

namespace A1Fleet.ModelBuilder.Weights;

/// <summary>How a tensor's values are drawn (see <see cref="ReferenceWeights"/> for the rule).</summary>
public enum WeightInit
{
    /// <summary>N(0, 1/fan_in) times <see cref="WeightSpec.ExtraScale"/>; fan_in = Shape[0].</summary>
    Linear,
    /// <summary>N(0, 0.02^2).</summary>
    Bias,
    /// <summary>1 + N(0, 0.02^2).</summary>
    NormScale,
    /// <summary>N(0, 1): token, position and query embeddings.</summary>
    Embedding,
}

/// <summary>One tensor of the layout. <paramref name="FanIn"/> overrides Shape[0] for split Linears.</summary>
public sealed record WeightSpec(string Name, int[] Shape, WeightInit Init, string Part, double ExtraScale = 1.0, int FanIn = 0);

/// <summary>The full list of tensors a config needs, in a fixed order, with their shapes and init rules.</summary>
public static class WeightLayout
{
    public static IReadOnlyList<WeightSpec> For(ReferenceModelConfig config)
    {
        var specs = new List<WeightSpec>();
        AddPrefix(specs, config);
        for (int layer = 0; layer < config.LmLayers; layer++)
        {
            AddTransformerBlock(specs, LmBlock(layer), config.Hidden, config.AttentionWidth, config.Mlp, config.LmLayers, WeightParts.LmLayers);
        }

        if (config.IsFlowMatching)
        {
            AddExpert(specs, config);
        }
        else
        {
            AddMlpHead(specs, config);
        }

        return specs;
    }

    private static void AddPrefix(List<WeightSpec> specs, ReferenceModelConfig c)
    {
        const string part = WeightParts.Prefix;
        AddLinear(specs, PatchEmbedding, c.PatchVectorSize, c.Hidden, part);
        specs.Add(new(ImagePosition, [c.ImageTokens, c.Hidden], WeightInit.Embedding, part));
        for (int layer = 0; layer < c.VisionLayers; layer++)
        {
            AddTransformerBlock(specs, VisionBlock(layer), c.Hidden, c.AttentionWidth, c.Mlp, c.VisionLayers, part);
        }

        AddLinear(specs, StateEmbedding, c.StateDim, c.Hidden, part);
        specs.Add(new(TokenEmbedding, [c.Vocabulary.Count, c.Hidden], WeightInit.Embedding, part));
        specs.Add(new(TokenPosition, [c.MaxTokens, c.Hidden], WeightInit.Embedding, part));
        if (!c.IsFlowMatching)
        {
            specs.Add(new(ActionQueries, [c.ActionQueries, c.Hidden], WeightInit.Embedding, part));
        }
    }

    private static void AddMlpHead(List<WeightSpec> specs, ReferenceModelConfig c)
    {
        const string part = WeightParts.MlpHead;
        int input = c.ActionDim * c.Hidden;
        AddNorm(specs, HeadInputNorm, input, part);
        AddLinear(specs, HeadInput, input, c.MlpHeadHidden, part);
        for (int block = 0; block < HeadResidualBlocks; block++)
        {
            AddLinear(specs, ResidualFirst(HeadResidual(block)), c.MlpHeadHidden, c.MlpHeadHidden, part);
            AddLinear(specs, ResidualSecond(HeadResidual(block)), c.MlpHeadHidden, c.MlpHeadHidden, part);
        }

        AddNorm(specs, HeadOutputNorm, c.MlpHeadHidden, part);
        AddLinear(specs, HeadOutput, c.MlpHeadHidden, c.ActionDim, part);
    }

    private static void AddExpert(List<WeightSpec> specs, ReferenceModelConfig c)
    {
        int de = c.ExpertHidden;
        const string suffix = WeightParts.ExpertSuffix;
        AddLinear(specs, ExpertStateEmbedding, c.StateDim, de, suffix);
        AddLinear(specs, ExpertActionEmbedding, c.ActionDim, de, suffix);
        // Both halves of Linear(2De -> De) are drawn with that Linear's fan-in, 2De.
        specs.Add(new(Weight(ExpertActionTimeMixAction), [de, de], WeightInit.Linear, suffix, FanIn: 2 * de));
        specs.Add(new(Bias(ExpertActionTimeMixAction), [de], WeightInit.Bias, suffix));
        specs.Add(new(Weight(ExpertActionTimeMixTime), [de, de], WeightInit.Linear, suffix, FanIn: 2 * de));
        AddLinear(specs, ExpertActionTimeOut, de, de, suffix);
        specs.Add(new(ExpertPosition, [c.SuffixTokens, de], WeightInit.Embedding, suffix));

        for (int layer = 0; layer < c.LmLayers; layer++)
        {
            AddTransformerBlock(specs, ExpertBlock(layer), de, c.AttentionWidth, c.ExpertMlp, c.LmLayers, WeightParts.ExpertLayers);
        }

        const string output = WeightParts.ExpertOut;
        AddNorm(specs, ExpertOutInputNorm, de, output);
        AddLinear(specs, ExpertOutInput, de, de, output);
        for (int block = 0; block < ExpertOutResidualBlocks; block++)
        {
            AddLinear(specs, ResidualFirst(ExpertOutResidual(block)), de, de, output);
            AddLinear(specs, ResidualSecond(ExpertOutResidual(block)), de, de, output);
        }

        AddNorm(specs, ExpertOutOutputNorm, de, output);
        AddLinear(specs, ExpertOutOutput, de, c.ActionDim, output);
    }

    /// <summary>
    /// Pre-LN block of width <paramref name="width"/> with attention width Hkv*hd. The two projections
    /// that write into the residual stream are scaled by 1/sqrt(2 * depth) so the stream drifts
    /// gradually over the stack: early exits then see nearby layers give similar, not equal, actions.
    /// </summary>
    private static void AddTransformerBlock(List<WeightSpec> specs, string block, int width, int attentionWidth, int mlp, int depth, string part)
    {
        double residualScale = 1.0 / Math.Sqrt(2.0 * depth);
        AddNorm(specs, Norm1(block), width, part);
        AddLinear(specs, Query(block), width, attentionWidth, part);
        AddLinear(specs, Key(block), width, attentionWidth, part);
        AddLinear(specs, Value(block), width, attentionWidth, part);
        AddLinear(specs, AttentionOut(block), attentionWidth, width, part, residualScale);
        AddNorm(specs, Norm2(block), width, part);
        AddLinear(specs, Gate(block), width, mlp, part);
        AddLinear(specs, Up(block), width, mlp, part);
        AddLinear(specs, Down(block), mlp, width, part, residualScale);
    }

    private static void AddLinear(List<WeightSpec> specs, string name, int input, int output, string part, double extraScale = 1.0)
    {
        specs.Add(new(Weight(name), [input, output], WeightInit.Linear, part, extraScale));
        specs.Add(new(Bias(name), [output], WeightInit.Bias, part));
    }

    private static void AddNorm(List<WeightSpec> specs, string name, int width, string part)
    {
        specs.Add(new(Scale(name), [width], WeightInit.NormScale, part));
        specs.Add(new(Bias(name), [width], WeightInit.Bias, part));
    }
}
