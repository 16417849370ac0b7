namespace A1Fleet.EarlyExit;

/// <summary>Target exit shares p_k that the calibrated thresholds aim for (spec "Threshold calibration", step 2).</summary>
public static class ExitDistribution
{
    /// <summary>The reference code's fixed Gamma scale.</summary>
    public const double GammaScale = 2.0;

    private const string ValidNames = "exp, gauss, gamma";

    /// <summary>
    /// Normalised target shares over <paramref name="exitCount"/> exits.
    /// The unnormalised masses are formed in log space and shifted by their maximum before
    /// exponentiating: the result is the same distribution, but a far-off Gauss centre or a large
    /// Gamma shape no longer underflows every mass to zero.
    /// </summary>
    /// <param name="family">Distribution family.</param>
    /// <param name="r">exp: ratio; gauss: centre (0-based exit index); gamma: shape.</param>
    /// <param name="exitCount">Number of eligible exits E.</param>
    /// <param name="forbidFirstExit">
    /// Sets p_0 = 0 before normalising, so the first exit never fires (the reference code does this
    /// for its 7B/8B models). Off by default.
    /// </param>
    /// <exception cref="ArgumentException">
    /// exitCount &lt; 1, r not finite, r &lt;= 0 for exp or gamma, or no mass left (forbidding the only exit).
    /// </exception>
    public static double[] TargetShares(ExitFamily family, double r, int exitCount, bool forbidFirstExit = false)
    {
        if (exitCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(exitCount), exitCount, "At least one exit is needed.");
        }

        if (!double.IsFinite(r))
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, "r must be finite.");
        }

        if (family is ExitFamily.Exp or ExitFamily.Gamma && r <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, $"r must be positive for the {FamilyName(family)} family.");
        }

        var shares = new double[exitCount];
        for (int k = 0; k < exitCount; k++)
        {
            shares[k] = family switch
            {
                ExitFamily.Exp => (k + 1) * Math.Log(r),
                ExitFamily.Gauss => -0.5 * (k - r) * (k - r),
                ExitFamily.Gamma => GammaLogPdf(k + 1, r, GammaScale),
                _ => throw new ArgumentOutOfRangeException(nameof(family), family, $"Unknown exit family; valid names: {ValidNames}."),
            };
        }

        if (forbidFirstExit)
        {
            shares[0] = double.NegativeInfinity;
        }

        double maxLogMass = double.NegativeInfinity;
        foreach (double logMass in shares)
        {
            maxLogMass = Math.Max(maxLogMass, logMass);
        }

        if (!double.IsFinite(maxLogMass))
        {
            throw new ArgumentException(
                $"The {FamilyName(family)} distribution with r = {r} over {exitCount} exit(s) has no mass left" +
                (forbidFirstExit ? " once the first exit is forbidden." : "."),
                nameof(r));
        }

        double total = 0;
        for (int k = 0; k < exitCount; k++)
        {
            shares[k] = Math.Exp(shares[k] - maxLogMass);
            total += shares[k];
        }

        for (int k = 0; k < exitCount; k++)
        {
            shares[k] /= total;
        }

        return shares;
    }

    /// <summary>Parses a family name case-insensitively: "exp", "gauss" or "gamma".</summary>
    /// <exception cref="ArgumentException">The name is none of those.</exception>
    public static ExitFamily ParseFamily(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParseFamily(name, out var family)
            ? family
            : throw new ArgumentException($"Unknown exit family '{name}'; valid names: {ValidNames}.", nameof(name));
    }

    /// <summary>Tries <see cref="ParseFamily"/> without throwing.</summary>
    public static bool TryParseFamily(string? name, out ExitFamily family)
    {
        foreach (var candidate in (ReadOnlySpan<ExitFamily>)[ExitFamily.Exp, ExitFamily.Gauss, ExitFamily.Gamma])
        {
            if (string.Equals(name, FamilyName(candidate), StringComparison.OrdinalIgnoreCase))
            {
                family = candidate;
                return true;
            }
        }

        family = default;
        return false;
    }

    /// <summary>The lower-case name used in configuration and threshold files.</summary>
    public static string FamilyName(ExitFamily family) => family switch
    {
        ExitFamily.Exp => "exp",
        ExitFamily.Gauss => "gauss",
        ExitFamily.Gamma => "gamma",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, $"Unknown exit family; valid names: {ValidNames}."),
    };

    /// <summary>log of the Gamma(shape, scale) density at x &gt; 0.</summary>
    internal static double GammaLogPdf(double x, double shape, double scale) =>
        ((shape - 1) * Math.Log(x)) - (x / scale) - SpecialFunctions.LogGamma(shape) - (shape * Math.Log(scale));
}
