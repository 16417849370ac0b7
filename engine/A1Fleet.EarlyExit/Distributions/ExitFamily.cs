namespace A1Fleet.EarlyExit;

/// <summary>Shape of the target exit distribution over the eligible exits (spec "Threshold calibration", step 2).</summary>
public enum ExitFamily
{
    /// <summary>p_k proportional to r^k, k = 1..E: r = 1 is uniform, r &lt; 1 favours early exits.</summary>
    Exp,

    /// <summary>p_k proportional to exp(-(k - r)^2 / 2), k = 0..E-1: a unit-sigma bell centred on exit r.</summary>
    Gauss,

    /// <summary>p_k = Gamma pdf(k; shape r, scale 2), k = 1..E.</summary>
    Gamma,
}
