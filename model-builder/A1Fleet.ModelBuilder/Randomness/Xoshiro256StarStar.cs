using System.Text;

namespace A1Fleet.ModelBuilder.Randomness;

/// <summary>
/// xoshiro256** (Blackman and Vigna) with Box-Muller normals. Written out here instead of using
/// System.Random so that the bit stream is fixed by this file alone: the same seed gives the same
/// weights, and so byte-identical ONNX files, on every .NET version.
/// </summary>
public sealed class Xoshiro256StarStar
{
    private ulong s0, s1, s2, s3;
    private double spareNormal;
    private bool hasSpareNormal;

    public Xoshiro256StarStar(ulong seed)
    {
        var expander = new SplitMix64(seed);
        s0 = expander.Next();
        s1 = expander.Next();
        s2 = expander.Next();
        s3 = expander.Next();
    }

    /// <summary>A generator in an exact state, to reproduce the algorithm's reference vectors.</summary>
    internal static Xoshiro256StarStar FromState(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        var generator = new Xoshiro256StarStar(0);
        (generator.s0, generator.s1, generator.s2, generator.s3) = (s0, s1, s2, s3);
        return generator;
    }

    /// <summary>
    /// An independent stream per name: the seed is combined with the FNV-1a hash of the name, so a
    /// tensor's values depend only on (seed, name) and not on how many tensors were drawn before it.
    /// </summary>
    public static Xoshiro256StarStar ForStream(ulong seed, string streamName) =>
        new(SplitMix64.Mix(seed) ^ Fnv1a64(streamName));

    public ulong NextUInt64()
    {
        ulong result = RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [min, max).</summary>
    public double NextDouble(double min, double max) => min + ((max - min) * NextDouble());

    /// <summary>Uniform integer in [0, exclusiveMax); the modulo bias is below 2^-40 for our small ranges.</summary>
    public int NextInt(int exclusiveMax)
    {
        if (exclusiveMax <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(exclusiveMax), "must be positive");
        }

        return (int)((NextUInt64() >> 1) % (ulong)exclusiveMax);
    }

    /// <summary>Standard normal via Box-Muller; both values of each pair are used.</summary>
    public double NextGaussian()
    {
        if (hasSpareNormal)
        {
            hasSpareNormal = false;
            return spareNormal;
        }

        // 1 - u keeps the logarithm's argument in (0, 1].
        double radius = Math.Sqrt(-2.0 * Math.Log(1.0 - NextDouble()));
        double angle = 2.0 * Math.PI * NextDouble();
        spareNormal = radius * Math.Sin(angle);
        hasSpareNormal = true;
        return radius * Math.Cos(angle);
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong Fnv1a64(string text)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 0x100000001B3UL;
        }

        return hash;
    }
}
