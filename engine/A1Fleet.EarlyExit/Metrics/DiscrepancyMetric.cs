namespace A1Fleet.EarlyExit;

/// <summary>
/// How far apart the action chunks of two consecutive exits are (spec "Exits"). The runtime exit
/// test and the threshold calibration must use the same metric, so it is persisted with the
/// thresholds.
/// </summary>
public enum DiscrepancyMetric
{
    /// <summary>1 - cos(a, a') along the action dims, each vector normalised with eps 1e-5.</summary>
    Cosine,

    /// <summary>sqrt(mean((a - a')^2)) over the action dims: an RMS, so it does not grow with the dim count.</summary>
    L2,

    /// <summary>mean |a - a'| over the action dims.</summary>
    Mean,

    /// <summary>max |a - a'| over the action dims.</summary>
    Max,
}
