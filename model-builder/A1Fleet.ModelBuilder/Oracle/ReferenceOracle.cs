using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Oracle.OracleMath;
using static A1Fleet.ModelBuilder.Weights.WeightNames;

namespace A1Fleet.ModelBuilder.Oracle;

/// <summary>Outputs of one LM layer: hidden [B,N,D], key and value [B,Hkv,N,hd].</summary>
public sealed record LmLayerOutput(float[] Hidden, float[] Key, float[] Value);

/// <summary>
/// The reference models' maths in plain C#, independent of ONNX: one method per graph, same inputs,
/// same outputs. Arrays are flat, row-major and batch-first; the batch size B is inferred from the
/// array lengths. Tests hold ONNX Runtime to these values.
/// </summary>
public sealed class ReferenceOracle(ReferenceWeights weights)
{
    private ReferenceModelConfig C => weights.Config;

    public ReferenceModelConfig Config => weights.Config;

    /// <summary>images [B,C,3,S,S] in [0,1], tokenIds [B,T], state [B,Sd] -> hidden [B,N,D].</summary>
    public float[] Prefix(float[] images, long[] tokenIds, float[] state)
    {
        int batch = Rows(state.Length, C.StateDim, "state");
        Expect(images.Length, batch * C.Cameras.Count * 3 * C.ImageSize * C.ImageSize, "images");
        Expect(tokenIds.Length, batch * C.MaxTokens, "tokenIds");

        float[] vision = AddToEachItem(Linear(Patchify(images, batch), weights[Weight(PatchEmbedding)], weights[Bias(PatchEmbedding)]),
            weights[ImagePosition].Data);
        for (int layer = 0; layer < C.VisionLayers; layer++)
        {
            vision = EncoderBlock(vision, batch, C.ImageTokens, VisionBlock(layer), attentionBias: null).Hidden;
        }

        float[] stateTokens = Linear(state, weights[Weight(StateEmbedding)], weights[Bias(StateEmbedding)]);
        float[] instruction = AddToEachItem(Embed(tokenIds), weights[TokenPosition].Data);

        int d = C.Hidden;
        var hidden = new float[batch * C.SequenceLength * d];
        for (int b = 0; b < batch; b++)
        {
            int offset = b * C.SequenceLength * d;
            Array.Copy(vision, b * C.ImageTokens * d, hidden, offset, C.ImageTokens * d);
            Array.Copy(stateTokens, b * d, hidden, offset + (C.StateTokenIndex * d), d);
            Array.Copy(instruction, b * C.MaxTokens * d, hidden, offset + (C.FirstInstructionToken * d), C.MaxTokens * d);
            if (!C.IsFlowMatching)
            {
                Array.Copy(weights[ActionQueries].Data, 0, hidden, offset + ((C.FirstInstructionToken + C.MaxTokens) * d), C.ActionQueries * d);
            }
        }

        return hidden;
    }

    /// <summary>hidden [B,N,D], attnBias [B,N] (0 valid, -1e9 padding) -> hidden_out, key, value.</summary>
    public LmLayerOutput LmLayer(int layer, float[] hidden, float[] attentionBias)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, C.LmLayers);
        int batch = Rows(hidden.Length, C.SequenceLength * C.Hidden, "hidden");
        Expect(attentionBias.Length, batch * C.SequenceLength, "attnBias");
        var (output, key, value) = EncoderBlock(hidden, batch, C.SequenceLength, LmBlock(layer), attentionBias);
        return new LmLayerOutput(output, key, value);
    }

    /// <summary>hidden [B,N,D] -> actions [B,H,A] (MLP models).</summary>
    public float[] MlpHead(float[] hidden)
    {
        RequireHead(flowMatching: false);
        int n = C.SequenceLength;
        int batch = Rows(hidden.Length, n * C.Hidden, "hidden");
        int queryValues = C.ActionQueries * C.Hidden;
        // The last Q tokens, query h*A + a: laid out flat they already are [B, H, A*D].
        var queries = new float[batch * queryValues];
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(hidden, (b * n * C.Hidden) + ((n - C.ActionQueries) * C.Hidden), queries, b * queryValues, queryValues);
        }

        float[] x = Relu(LinearNamed(Norm(queries, HeadInputNorm), HeadInput));
        for (int block = 0; block < HeadResidualBlocks; block++)
        {
            x = ResidualBlock(x, HeadResidual(block));
        }

        return LinearNamed(Norm(x, HeadOutputNorm), HeadOutput);
    }

    /// <summary>noisyActions [B,H,A], time [B], state [B,Sd] -> suffix_hidden [B,1+H,De] (FM models).</summary>
    public float[] ExpertSuffix(float[] noisyActions, float[] time, float[] state)
    {
        RequireHead(flowMatching: true);
        int batch = time.Length;
        Expect(noisyActions.Length, batch * C.Chunk * C.ActionDim, "noisyActions");
        Expect(state.Length, batch * C.StateDim, "state");
        int de = C.ExpertHidden;

        float[] stateTokens = LinearNamed(state, ExpertStateEmbedding);
        float[] actionEmbedding = LinearNamed(noisyActions, ExpertActionEmbedding);
        float[] timeTerm = Linear(TimeEmbedding(time), weights[Weight(ExpertActionTimeMixTime)], bias: null);
        float[] mixed = LinearNamed(actionEmbedding, ExpertActionTimeMixAction);
        for (int i = 0; i < mixed.Length; i++)
        {
            int b = i / (C.Chunk * de);
            mixed[i] = (float)((double)mixed[i] + timeTerm[(b * de) + (i % de)]);
        }

        float[] actionTokens = LinearNamed(SiLU(mixed), ExpertActionTimeOut);
        var suffix = new float[batch * C.SuffixTokens * de];
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(stateTokens, b * de, suffix, b * C.SuffixTokens * de, de);
            Array.Copy(actionTokens, b * C.Chunk * de, suffix, ((b * C.SuffixTokens) + 1) * de, C.Chunk * de);
        }

        return AddToEachItem(suffix, weights[ExpertPosition].Data);
    }

    /// <summary>
    /// suffix [B,S_f,De], prefixKey/prefixValue [B,Hkv,N,hd] (LM layer <paramref name="layer"/>'s),
    /// attnBias [B,N] -> suffix_hidden_out [B,S_f,De] (FM models).
    /// </summary>
    public float[] ExpertLayer(int layer, float[] suffixHidden, float[] prefixKey, float[] prefixValue, float[] attentionBias)
    {
        RequireHead(flowMatching: true);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, C.LmLayers);
        int s = C.SuffixTokens;
        int n = C.SequenceLength;
        int batch = Rows(suffixHidden.Length, s * C.ExpertHidden, "suffixHidden");
        Expect(prefixKey.Length, batch * C.KvHeads * n * C.HeadDim, "prefixKey");
        Expect(prefixValue.Length, batch * C.KvHeads * n * C.HeadDim, "prefixValue");
        Expect(attentionBias.Length, batch * n, "attnBias");
        string block = ExpertBlock(layer);

        float[] normed = Norm(suffixHidden, Norm1(block));
        float[] q = SplitHeads(LinearNamed(normed, Query(block)), batch, s, C.KvHeads, C.HeadDim);
        float[] k = SplitHeads(LinearNamed(normed, Key(block)), batch, s, C.KvHeads, C.HeadDim);
        float[] v = SplitHeads(LinearNamed(normed, Value(block)), batch, s, C.KvHeads, C.HeadDim);
        KeySet[] keySets =
        [
            new(prefixKey, prefixValue, n, (b, _, j) => attentionBias[(b * n) + j]),
            new(k, v, s, static (_, i, j) => j > i ? GraphIo.MaskedBias : 0.0),
        ];
        float[] context = Attention(q, batch, C.KvHeads, s, C.HeadDim, SuffixConstants.AttentionScale(C.HeadDim), keySets);
        return AttentionResidualAndMlp(suffixHidden, context, batch, s, block);
    }

    /// <summary>suffix [B,S_f,De] -> velocity [B,H,A] (FM models).</summary>
    public float[] ExpertOut(float[] suffixHidden)
    {
        RequireHead(flowMatching: true);
        int de = C.ExpertHidden;
        int batch = Rows(suffixHidden.Length, C.SuffixTokens * de, "suffixHidden");
        var actionTokens = new float[batch * C.Chunk * de];
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(suffixHidden, ((b * C.SuffixTokens) + 1) * de, actionTokens, b * C.Chunk * de, C.Chunk * de);
        }

        float[] x = Relu(LinearNamed(Norm(actionTokens, ExpertOutInputNorm), ExpertOutInput));
        for (int block = 0; block < ExpertOutResidualBlocks; block++)
        {
            x = ResidualBlock(x, ExpertOutResidual(block));
        }

        return LinearNamed(Norm(x, ExpertOutOutputNorm), ExpertOutOutput);
    }

    /// <summary>[B, C*Pc, 3*P*P]: patch (row, col) of camera c is token c*Pc + row*(S/P) + col; vector order (channel, y, x).</summary>
    private float[] Patchify(float[] images, int batch)
    {
        int s = C.ImageSize;
        int p = C.Patch;
        int side = C.PatchesPerSide;
        var patches = new float[batch * C.ImageTokens * C.PatchVectorSize];
        for (int b = 0; b < batch; b++)
        {
            for (int camera = 0; camera < C.Cameras.Count; camera++)
            {
                for (int row = 0; row < side; row++)
                {
                    for (int col = 0; col < side; col++)
                    {
                        int token = (b * C.ImageTokens) + (camera * C.PatchesPerCamera) + (row * side) + col;
                        for (int channel = 0; channel < 3; channel++)
                        {
                            for (int y = 0; y < p; y++)
                            {
                                for (int x = 0; x < p; x++)
                                {
                                    int source = ((((((b * C.Cameras.Count) + camera) * 3) + channel) * s + (row * p) + y) * s) + (col * p) + x;
                                    patches[(token * C.PatchVectorSize) + (((channel * p) + y) * p) + x] = images[source];
                                }
                            }
                        }
                    }
                }
            }
        }

        return patches;
    }

    private float[] Embed(long[] tokenIds)
    {
        int d = C.Hidden;
        float[] table = weights[TokenEmbedding].Data;
        var embedded = new float[tokenIds.Length * d];
        for (int i = 0; i < tokenIds.Length; i++)
        {
            long id = tokenIds[i];
            if (id < 0 || id >= C.Vocabulary.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenIds), $"token id {id} is outside the vocabulary of {C.Vocabulary.Count}");
            }

            Array.Copy(table, id * d, embedded, (long)i * d, d);
        }

        return embedded;
    }

    /// <summary>[sin(f_i t)..., cos(f_i t)...] per batch row, with the angle rounded to float as the graph does.</summary>
    private float[] TimeEmbedding(float[] time)
    {
        float[] frequencies = SuffixConstants.TimeFrequencies(C.ExpertHidden);
        int half = frequencies.Length;
        var embedding = new float[time.Length * 2 * half];
        for (int b = 0; b < time.Length; b++)
        {
            for (int i = 0; i < half; i++)
            {
                float angle = frequencies[i] * time[b];
                embedding[(b * 2 * half) + i] = (float)Math.Sin(angle);
                embedding[(b * 2 * half) + half + i] = (float)Math.Cos(angle);
            }
        }

        return embedding;
    }

    private (float[] Hidden, float[] Key, float[] Value) EncoderBlock(float[] x, int batch, int tokens, string block, float[]? attentionBias)
    {
        float[] normed = Norm(x, Norm1(block));
        float[] q = SplitHeads(LinearNamed(normed, Query(block)), batch, tokens, C.KvHeads, C.HeadDim);
        float[] k = SplitHeads(LinearNamed(normed, Key(block)), batch, tokens, C.KvHeads, C.HeadDim);
        float[] v = SplitHeads(LinearNamed(normed, Value(block)), batch, tokens, C.KvHeads, C.HeadDim);
        Func<int, int, int, double>? bias = attentionBias is null ? null : (b, _, j) => attentionBias[(b * tokens) + j];
        float[] context = Attention(q, batch, C.KvHeads, tokens, C.HeadDim, SuffixConstants.AttentionScale(C.HeadDim), [new KeySet(k, v, tokens, bias)]);
        return (AttentionResidualAndMlp(x, context, batch, tokens, block), k, v);
    }

    /// <summary>x + o(merge(context)), then + SwiGLU(LN2(.)): the second half of every pre-LN block.</summary>
    private float[] AttentionResidualAndMlp(float[] x, float[] context, int batch, int tokens, string block)
    {
        float[] afterAttention = Add(x, LinearNamed(MergeHeads(context, batch, tokens, C.KvHeads, C.HeadDim), AttentionOut(block)));
        float[] normed = Norm(afterAttention, Norm2(block));
        float[] gated = Multiply(SiLU(LinearNamed(normed, Gate(block))), LinearNamed(normed, Up(block)));
        return Add(afterAttention, LinearNamed(gated, Down(block)));
    }

    private float[] ResidualBlock(float[] x, string block) =>
        Add(x, LinearNamed(Relu(LinearNamed(x, ResidualFirst(block))), ResidualSecond(block)));

    private float[] LinearNamed(float[] x, string linear) => Linear(x, weights[Weight(linear)], weights[Bias(linear)]);

    private float[] Norm(float[] x, string norm) => LayerNorm(x, weights[Scale(norm)], weights[Bias(norm)]);

    private void RequireHead(bool flowMatching)
    {
        if (C.IsFlowMatching != flowMatching)
        {
            throw new InvalidOperationException($"Model '{C.Name}' has head kind '{C.HeadKind}'.");
        }
    }

    private static void Expect(int actual, int expected, string what)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{what} holds {actual} values; expected {expected}.");
        }
    }
}
