namespace A1Fleet.Engine.Preprocessing;

/// <summary>
/// Reproducible Gaussian noise: a request's noise at a layer depends only on (seed, layer), never on
/// what it was batched with or on which thread ran it. SplitMix64 feeding Box-Muller.
/// </summary>
public static class GaussianNoise
{
    public static void Fill(Span<float> destination, ulong seed, int layer)
    {
        var state = Mix(seed ^ Mix((ulong)layer + 0x9E3779B97F4A7C15UL));
        for (var i = 0; i < destination.Length; i += 2)
        {
            // 53-bit uniforms in (0, 1]: the log never sees zero.
            var u1 = ((Next(ref state) >> 11) + 1) * (1.0 / 9007199254740992.0);
            var u2 = (Next(ref state) >> 11) * (1.0 / 9007199254740992.0);
            var radius = Math.Sqrt(-2.0 * Math.Log(u1));
            var angle = 2.0 * Math.PI * u2;
            destination[i] = (float)(radius * Math.Cos(angle));
            if (i + 1 < destination.Length)
            {
                destination[i + 1] = (float)(radius * Math.Sin(angle));
            }
        }
    }

    private static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
