namespace A1Fleet.Motion;

/// <summary>
/// Limits per joint, in robot units: position range, top speed (units/s) and top acceleration (units/s²).
/// Immutable; clamping needs no allocation. The control loop's <see cref="MotionLimiter"/> enforces all three.
/// </summary>
public sealed class JointLimits
{
    private readonly float[] _lower;
    private readonly float[] _upper;
    private readonly float[] _maxVelocity;
    private readonly float[] _maxAcceleration;

    public JointLimits(IReadOnlyList<float> lower, IReadOnlyList<float> upper, IReadOnlyList<float> maxVelocity, IReadOnlyList<float> maxAcceleration)
    {
        if (lower.Count != upper.Count || lower.Count == 0 || maxVelocity.Count != lower.Count || maxAcceleration.Count != lower.Count)
        {
            throw new ArgumentException(
                $"joint limits need one lower, upper, velocity and acceleration value per joint (got {lower.Count}, {upper.Count}, {maxVelocity.Count} and {maxAcceleration.Count})");
        }

        for (var i = 0; i < lower.Count; i++)
        {
            if (!(maxVelocity[i] > 0 && float.IsFinite(maxVelocity[i])) || !(maxAcceleration[i] > 0 && float.IsFinite(maxAcceleration[i])))
            {
                throw new ArgumentException($"joint {i}: velocity limit {maxVelocity[i]} and acceleration limit {maxAcceleration[i]} must be positive and finite");
            }
        }

        for (var i = 0; i < lower.Count; i++)
        {
            if (!(lower[i] < upper[i]))
            {
                throw new ArgumentException($"joint {i}: lower limit {lower[i]} is not below upper limit {upper[i]}");
            }
        }

        _lower = [.. lower];
        _upper = [.. upper];
        _maxVelocity = [.. maxVelocity];
        _maxAcceleration = [.. maxAcceleration];
    }

    public int Count => _lower.Length;

    /// <summary>The limits of the first <paramref name="count"/> joints (a client that drives only those).</summary>
    public JointLimits Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        return count == Count ? this : new JointLimits(_lower[..count], _upper[..count], _maxVelocity[..count], _maxAcceleration[..count]);
    }

    public ReadOnlySpan<float> Lower => _lower;

    public ReadOnlySpan<float> Upper => _upper;

    public ReadOnlySpan<float> MaxVelocity => _maxVelocity;

    public ReadOnlySpan<float> MaxAcceleration => _maxAcceleration;

    public bool Contains(int joint, float value) => value >= _lower[joint] && value <= _upper[joint];

    /// <summary>Clamps every target into its joint's range and returns how many values had to move.</summary>
    public int Clamp(Span<float> targets)
    {
        var clamped = 0;
        for (var i = 0; i < targets.Length; i++)
        {
            var v = targets[i];
            if (v < _lower[i])
            {
                targets[i] = _lower[i];
                clamped++;
            }
            else if (v > _upper[i])
            {
                targets[i] = _upper[i];
                clamped++;
            }
        }

        return clamped;
    }
}
