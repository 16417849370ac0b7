namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>
/// Constants of the FM suffix that the graphs embed and the oracle recomputes from the same floats,
/// so both sides start from bit-identical values.
/// </summary>
public static class SuffixConstants
{
    public const double MinPeriod = 4e-3;
    public const double MaxPeriod = 4.0;

    /// <summary>
    /// Angular frequencies 2*pi/period of the sinusoidal time embedding: <paramref name="dims"/>/2
    /// periods spaced geometrically from 4e-3 to 4.0. The embedding of t is
    /// [sin(f_0 t) .. sin(f_{h-1} t), cos(f_0 t) .. cos(f_{h-1} t)].
    /// </summary>
    public static float[] TimeFrequencies(int dims)
    {
        int half = dims / 2;
        var frequencies = new float[half];
        for (int i = 0; i < half; i++)
        {
            double fraction = half == 1 ? 0.0 : (double)i / (half - 1);
            double period = MinPeriod * Math.Pow(MaxPeriod / MinPeriod, fraction);
            frequencies[i] = (float)(2.0 * Math.PI / period);
        }

        return frequencies;
    }

    /// <summary>[S_f, S_f] additive causal mask, row = query: 0 on and below the diagonal, -1e9 above.</summary>
    public static float[] CausalMask(int tokens)
    {
        var mask = new float[tokens * tokens];
        for (int query = 0; query < tokens; query++)
        {
            for (int key = query + 1; key < tokens; key++)
            {
                mask[(query * tokens) + key] = GraphIo.MaskedBias;
            }
        }

        return mask;
    }

    /// <summary>1/sqrt(head dim) as the float both the graphs and the oracle multiply scores by.</summary>
    public static float AttentionScale(int headDim) => (float)(1.0 / Math.Sqrt(headDim));
}
