using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Oracle;

/// <summary>
/// The arithmetic of the oracle on flat row-major float arrays: plain loops, sums in double, so that
/// the oracle is a slow but trustworthy statement of what each graph must compute.
/// </summary>
internal static class OracleMath
{
    /// <summary>One set of keys/values attended to, with an additive bias(batch, query, key).</summary>
    public sealed record KeySet(float[] Keys, float[] Values, int Count, Func<int, int, int, double>? Bias);

    /// <summary>y = x W + b over the last dim: x [rows, in], W [in, out] -> [rows, out]. <paramref name="bias"/> may be null.</summary>
    public static float[] Linear(float[] x, WeightTensor weight, WeightTensor? bias)
    {
        int input = weight.Shape[0];
        int output = weight.Shape[1];
        int rows = Rows(x.Length, input, weight.Name);
        var y = new float[rows * output];
        float[] w = weight.Data;
        Parallel.For(0, rows, row =>
        {
            var sums = new double[output];
            for (int i = 0; i < input; i++)
            {
                double xi = x[(row * input) + i];
                int offset = i * output;
                for (int o = 0; o < output; o++)
                {
                    sums[o] += xi * w[offset + o];
                }
            }

            for (int o = 0; o < output; o++)
            {
                y[(row * output) + o] = (float)(sums[o] + (bias?.Data[o] ?? 0.0));
            }
        });
        return y;
    }

    /// <summary>LayerNorm over the last dim (width = scale length), population variance, epsilon 1e-5.</summary>
    public static float[] LayerNorm(float[] x, WeightTensor scale, WeightTensor bias)
    {
        int width = scale.Data.Length;
        int rows = Rows(x.Length, width, scale.Name);
        var y = new float[x.Length];
        for (int row = 0; row < rows; row++)
        {
            int offset = row * width;
            double mean = 0;
            for (int i = 0; i < width; i++)
            {
                mean += x[offset + i];
            }

            mean /= width;
            double variance = 0;
            for (int i = 0; i < width; i++)
            {
                double centred = x[offset + i] - mean;
                variance += centred * centred;
            }

            variance /= width;
            double inverseStd = 1.0 / Math.Sqrt(variance + Onnx.OnnxModelWriter.LayerNormEpsilon);
            for (int i = 0; i < width; i++)
            {
                y[offset + i] = (float)(((x[offset + i] - mean) * inverseStd * scale.Data[i]) + bias.Data[i]);
            }
        }

        return y;
    }

    public static float[] Add(float[] a, float[] b) => Zip(a, b, static (p, q) => (double)p + q);

    public static float[] Multiply(float[] a, float[] b) => Zip(a, b, static (p, q) => (double)p * q);

    /// <summary>Adds <paramref name="perItem"/> (one batch item's worth, e.g. position embeddings) to every batch item.</summary>
    public static float[] AddToEachItem(float[] x, float[] perItem)
    {
        Rows(x.Length, perItem.Length, "per-item addend");
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = (float)((double)x[i] + perItem[i % perItem.Length]);
        }

        return y;
    }

    public static float[] SiLU(float[] x) => x.Select(static v => (float)(v / (1.0 + Math.Exp(-v)))).ToArray();

    public static float[] Relu(float[] x) => x.Select(static v => Math.Max(v, 0f)).ToArray();

    /// <summary>[B, tokens, heads*hd] -> [B, heads, tokens, hd].</summary>
    public static float[] SplitHeads(float[] x, int batch, int tokens, int heads, int headDim)
    {
        var y = new float[x.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tokens; t++)
            {
                for (int h = 0; h < heads; h++)
                {
                    Array.Copy(x, (((b * tokens) + t) * heads * headDim) + (h * headDim), y, (((b * heads) + h) * tokens * headDim) + (t * headDim), headDim);
                }
            }
        }

        return y;
    }

    /// <summary>[B, heads, tokens, hd] -> [B, tokens, heads*hd].</summary>
    public static float[] MergeHeads(float[] x, int batch, int tokens, int heads, int headDim)
    {
        var y = new float[x.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int t = 0; t < tokens; t++)
                {
                    Array.Copy(x, (((b * heads) + h) * tokens * headDim) + (t * headDim), y, (((b * tokens) + t) * heads * headDim) + (h * headDim), headDim);
                }
            }
        }

        return y;
    }

    /// <summary>
    /// softmax(q k^T * scale + bias) v with one softmax per query over the keys of all
    /// <paramref name="keySets"/> together. q [B,H,Sq,hd]; each set's keys/values [B,H,Count,hd].
    /// </summary>
    public static float[] Attention(float[] q, int batch, int heads, int queries, int headDim, float scale, IReadOnlyList<KeySet> keySets)
    {
        int totalKeys = keySets.Sum(s => s.Count);
        var output = new float[batch * heads * queries * headDim];
        Parallel.For(0, batch * heads, bh =>
        {
            int b = bh / heads;
            var scores = new double[totalKeys];
            var context = new double[headDim];
            for (int i = 0; i < queries; i++)
            {
                int queryOffset = ((bh * queries) + i) * headDim;
                int column = 0;
                foreach (var set in keySets)
                {
                    for (int j = 0; j < set.Count; j++, column++)
                    {
                        int keyOffset = ((bh * set.Count) + j) * headDim;
                        double dot = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            dot += (double)q[queryOffset + d] * set.Keys[keyOffset + d];
                        }

                        scores[column] = (dot * scale) + (set.Bias?.Invoke(b, i, j) ?? 0.0);
                    }
                }

                double max = scores.Max();
                double total = 0;
                for (int j = 0; j < totalKeys; j++)
                {
                    scores[j] = Math.Exp(scores[j] - max);
                    total += scores[j];
                }

                Array.Clear(context);
                column = 0;
                foreach (var set in keySets)
                {
                    for (int j = 0; j < set.Count; j++, column++)
                    {
                        double p = scores[column] / total;
                        int valueOffset = ((bh * set.Count) + j) * headDim;
                        for (int d = 0; d < headDim; d++)
                        {
                            context[d] += p * set.Values[valueOffset + d];
                        }
                    }
                }

                for (int d = 0; d < headDim; d++)
                {
                    output[queryOffset + d] = (float)context[d];
                }
            }
        });
        return output;
    }

    /// <summary>How many rows of <paramref name="width"/> a flat array holds; throws if it is not a whole number.</summary>
    public static int Rows(int length, int width, string what)
    {
        if (width <= 0 || length % width != 0)
        {
            throw new ArgumentException($"An array of {length} values is not a whole number of rows of {width} ({what}).");
        }

        return length / width;
    }

    private static float[] Zip(float[] a, float[] b, Func<float, float, double> combine)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Element-wise operands differ in length: {a.Length} and {b.Length}.");
        }

        var y = new float[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            y[i] = (float)combine(a[i], b[i]);
        }

        return y;
    }
}
