namespace A1Fleet.Motion;

/// <summary>
/// Brings whole action chunks within an embodiment's joint limits for a client that executes them itself (the openpi
/// and A1 endpoints: no agent, so no control loop with its own <see cref="MotionLimiter"/>). Actions are absolute joint
/// positions, model dim i driving joint i (the <see cref="ModelAdapter"/> convention every A1Fleet model follows), for
/// the first <c>columns</c> joints; the observed state gives where those joints are now.
/// <para>Each chunk is limited as the agent's loop would limit it, one control period per step: positions stay in
/// range, each step moves a joint by at most its velocity limit and changes that velocity by at most its acceleration
/// limit. Steps a joint can make pass bit for bit. Continuity across chunks: the arm is assumed to move as the previous
/// limited chunk said at the time the new observation arrived (a client executes chunks in real time), and at rest
/// once that chunk has run out or when there was none.</para>
/// <para>Fails closed: an observed position outside a joint's range (by more than <see cref="RangeTolerance"/> of the
/// range) means the robot is not the embodiment its profile says, or reports other units, and no chunk is sent.</para>
/// One instance per client session; calls are serialised.
/// </summary>
public sealed class ChunkLimiter
{
    /// <summary>How far outside a joint's range (as a share of the range) an observed position may be: sensor noise and a gripper's overshoot, not another unit.</summary>
    public const double RangeTolerance = 0.02;

    private readonly EmbodimentProfile _embodiment;
    private readonly double _dt;
    private readonly Lock _lock = new();
    private MotionLimiter? _limiter;
    private int _columns;
    private float[] _previousStart = [];
    private float[] _previous = [];
    private int _previousSteps;
    private long _previousAt;

    public ChunkLimiter(EmbodimentProfile embodiment, double controlHz)
    {
        if (!(controlHz > 0) || !double.IsFinite(controlHz))
        {
            throw new ArgumentOutOfRangeException(nameof(controlHz), controlHz, "the control rate must be positive");
        }

        _embodiment = embodiment;
        _dt = 1 / controlHz;
    }

    /// <summary>The joints this embodiment has: the most action columns that can be limited.</summary>
    public int JointCount => _embodiment.JointCount;

    /// <summary>
    /// The observed joint positions' first problem, or null: a non-finite value, or one outside the joint's range by more
    /// than <see cref="RangeTolerance"/>. The message starts with <paramref name="field"/>[index] and names the joint.
    /// </summary>
    public string? CheckObserved(ReadOnlySpan<float> observed, string field = "state")
    {
        var limits = _embodiment.Limits;
        for (var j = 0; j < observed.Length && j < limits.Count; j++)
        {
            var value = observed[j];
            var slack = (limits.Upper[j] - limits.Lower[j]) * RangeTolerance;
            if (!float.IsFinite(value) || value < limits.Lower[j] - slack || value > limits.Upper[j] + slack)
            {
                return $"{field}[{j}]: {value} is outside joint '{_embodiment.Joints[j].Name}' range [{limits.Lower[j]}, {limits.Upper[j]}] of a {_embodiment.Embodiment.ToString().ToLowerInvariant()}: "
                    + "the robot is not the embodiment its profile names, or reports other units; no actions are sent";
            }
        }

        return null;
    }

    /// <summary>
    /// Limits <paramref name="chunk"/> steps of <paramref name="actionDim"/> model actions to their first
    /// <paramref name="observed"/>.Length columns, from the arm observed at <paramref name="observedAt"/> (a
    /// <see cref="TimeProvider"/> timestamp with <paramref name="timestampFrequency"/> ticks per second). Returns the
    /// limited (chunk, columns) actions and how many steps had a joint that could not follow its action.
    /// </summary>
    public (float[] Actions, int LimitedSteps) Limit(ReadOnlySpan<float> observed, ReadOnlySpan<float> actions, int chunk, int actionDim, long observedAt, long timestampFrequency)
    {
        var columns = observed.Length;
        if (columns < 1 || columns > JointCount)
        {
            throw new ArgumentOutOfRangeException(nameof(observed), columns, $"1..{JointCount} joints of a {_embodiment.Embodiment} can be limited");
        }

        if (columns > actionDim || chunk < 1 || actions.Length != chunk * actionDim)
        {
            throw new ArgumentException($"actions: {actions.Length} values do not hold {chunk} steps of {actionDim} dims with {columns} columns to limit", nameof(actions));
        }

        if (CheckObserved(observed) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(observed), problem);
        }

        lock (_lock)
        {
            if (_limiter is null || _columns != columns)
            {
                _limiter = new MotionLimiter(_embodiment.Limits.Take(columns), 1 / _dt);
                _columns = columns;
                _previousSteps = 0;
            }

            _limiter.Reset(observed, Velocity(observedAt, timestampFrequency));
            var limited = new float[chunk * columns];
            var limitedSteps = 0;
            for (var step = 0; step < chunk; step++)
            {
                if (_limiter.Step(actions.Slice(step * actionDim, columns), limited.AsSpan(step * columns, columns)))
                {
                    limitedSteps++;
                }
            }

            _previousStart = observed.ToArray();
            _previous = limited;
            _previousSteps = chunk;
            _previousAt = observedAt;
            return (limited, limitedSteps);
        }
    }

    /// <summary>What the previous limited chunk commands at <paramref name="now"/>: the velocity of the step being executed then; empty (at rest) past its end.</summary>
    private double[] Velocity(long now, long frequency)
    {
        if (_previousSteps == 0)
        {
            return [];
        }

        var elapsed = (double)(now - _previousAt) / frequency;
        var step = (int)Math.Floor(elapsed / _dt);
        if (step < 0 || step >= _previousSteps)
        {
            return [];
        }

        var velocity = new double[_columns];
        for (var j = 0; j < _columns; j++)
        {
            var from = step == 0 ? _previousStart[j] : _previous[((step - 1) * _columns) + j];
            velocity[j] = ((double)_previous[(step * _columns) + j] - from) / _dt;
        }

        return velocity;
    }
}
