namespace A1Fleet.RobotAgent.Drivers;

/// <summary>Position limits per joint, in robot units. Immutable; clamping needs no allocation.</summary>
public sealed class JointLimits
{
    private readonly float[] _lower;
    private readonly float[] _upper;

    public JointLimits(IReadOnlyList<float> lower, IReadOnlyList<float> upper)
    {
        if (lower.Count != upper.Count || lower.Count == 0)
        {
            throw new ArgumentException($"joint limits need one lower and one upper value per joint (got {lower.Count} and {upper.Count})");
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
    }

    public int Count => _lower.Length;

    public ReadOnlySpan<float> Lower => _lower;

    public ReadOnlySpan<float> Upper => _upper;

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
