namespace A1Fleet.ModelBuilder.Randomness;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood): a tiny 64-bit generator used only to expand one seed into
/// well-mixed state words for <see cref="Xoshiro256StarStar"/>, as its authors recommend.
/// </summary>
public struct SplitMix64
{
    private ulong state;

    public SplitMix64(ulong seed) => state = seed;

    public ulong Next()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>The SplitMix64 output function: a bijective avalanche of one 64-bit word.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
