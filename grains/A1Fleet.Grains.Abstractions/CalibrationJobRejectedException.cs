namespace A1Fleet.Grains;

/// <summary>
/// A calibration job that cannot start, with every reason in its message: a bad spec, a model no GPU silo serves, or a
/// dataset the GPU silos cannot open (missing, unreadable, malformed, or needing a codec they lack). The job grain
/// turns whatever the dataset library threw into this, so callers (the operator API) answer 400 with the reason
/// without knowing that library's exception types.
/// </summary>
[GenerateSerializer, Alias("a1.CalibrationJobRejectedException")]
public sealed class CalibrationJobRejectedException : Exception
{
    public CalibrationJobRejectedException()
    {
    }

    public CalibrationJobRejectedException(string message)
        : base(message)
    {
    }

    public CalibrationJobRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
