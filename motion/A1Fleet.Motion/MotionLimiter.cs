
namespace A1Fleet.Motion;

/// <summary>
/// The last thing between a plan and the driver: every commanded position moves each joint by at most its
/// velocity limit and changes that velocity by at most its acceleration limit per control period, and never
/// leaves the joint's range. Velocities are what the commands imply, (q[k] - q[k-1]) / dt, so a test can check
/// the sequence a driver received without knowing anything about this class.
/// <para>Tracking: a target the joint can reach this period within both limits is commanded exactly (a smooth
/// chunk passes unchanged). Any other target is approached as fast as the limits allow while staying able to stop
/// at it: the speed toward a point d ahead is capped so that, after this period, braking at the acceleration
/// limit stops within d. The same cap toward each end of the range keeps positions inside it by construction
/// rather than by clamping (a clamp would be an instant stop).</para>
/// <para>Stopping (<see cref="Stop"/>) decelerates every joint at its acceleration limit to zero velocity and then
/// holds: a controlled stop with the drives powered, IEC 60204-1 stop category 2. Power removal (categories 0/1)
/// stays with the arm's own safety controller.</para>
/// Buffers are made once; a step allocates nothing.
/// </summary>
public sealed class MotionLimiter
{
    private readonly float[] _lower;
    private readonly float[] _upper;
    private readonly double[] _maxVelocity;
    private readonly double[] _maxAcceleration;
    private readonly float[] _position;
    private readonly double[] _velocity;
    private readonly float[] _lastTarget;
    private readonly double _dt;

    public MotionLimiter(JointLimits limits, double controlHz)
    {
        if (!(controlHz > 0) || !double.IsFinite(controlHz))
        {
            throw new ArgumentOutOfRangeException(nameof(controlHz), controlHz, "the control rate must be positive");
        }

        _lower = limits.Lower.ToArray();
        _upper = limits.Upper.ToArray();
        _maxVelocity = [.. limits.MaxVelocity.ToArray().Select(v => (double)v)];
        _maxAcceleration = [.. limits.MaxAcceleration.ToArray().Select(a => (double)a)];
        _position = new float[limits.Count];
        _velocity = new double[limits.Count];
        _lastTarget = new float[limits.Count];
        _dt = 1 / controlHz;
    }

    public int JointCount => _position.Length;

    /// <summary>The last commanded position (where a hold keeps the arm).</summary>
    public ReadOnlySpan<float> Position => _position;

    /// <summary>True when every joint's commanded velocity is zero: a hold from here is not a step.</summary>
    public bool AtRest
    {
        get
        {
            foreach (var v in _velocity)
            {
                if (v != 0)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Starts from <paramref name="position"/> at rest (the arm's measured state before the first command).</summary>
    public void Reset(ReadOnlySpan<float> position) => Reset(position, ReadOnlySpan<double>.Empty);

    /// <summary>
    /// Starts from <paramref name="position"/> moving at <paramref name="velocity"/> (units/s; empty: at rest), as when
    /// a new chunk takes over from one the arm is still executing. The velocity is brought within the joint's limit and
    /// within what can still stop before the end of the range ahead, so every step from here keeps all three limits.
    /// </summary>
    public void Reset(ReadOnlySpan<float> position, ReadOnlySpan<double> velocity)
    {
        if (!velocity.IsEmpty && velocity.Length != _position.Length)
        {
            throw new ArgumentException($"velocity: expected {_position.Length} values (one per joint), got {velocity.Length}", nameof(velocity));
        }

        for (var j = 0; j < _position.Length; j++)
        {
            var q = Math.Clamp(position[j], _lower[j], _upper[j]);
            var v = velocity.IsEmpty || !double.IsFinite(velocity[j]) ? 0 : Math.Clamp(velocity[j], -_maxVelocity[j], _maxVelocity[j]);
            v = Math.Min(v, StoppableSpeed(_upper[j] - q, _maxAcceleration[j]));
            v = Math.Max(v, -StoppableSpeed(q - _lower[j], _maxAcceleration[j]));
            _position[j] = q;
            _lastTarget[j] = q;
            _velocity[j] = v;
        }
    }

    /// <summary>
    /// The command for one period towards <paramref name="target"/> (already within the position limits) into
    /// <paramref name="command"/>; true when any joint could not reach its target this period.
    /// </summary>
    public bool Step(ReadOnlySpan<float> target, Span<float> command)
    {
        var limited = false;
        for (var j = 0; j < _position.Length; j++)
        {
            var q = _position[j];
            var v = _velocity[j];
            var a = _maxAcceleration[j];
            var vmax = _maxVelocity[j];
            var t = Math.Clamp(target[j], _lower[j], _upper[j]);

            // The target's own velocity; a step no joint could make is a jump to a new place, not a motion to follow.
            var targetVelocity = ((double)t - _lastTarget[j]) / _dt;
            if (Math.Abs(targetVelocity) > vmax)
            {
                targetVelocity = 0;
            }

            _lastTarget[j] = t;
            var e = (double)t - q;
            var exact = e / _dt;
            if (Math.Abs(exact) <= vmax && Math.Abs(exact - v) <= a * _dt && Math.Abs(exact - targetVelocity) <= a * _dt
                && exact <= StoppableSpeed(_upper[j] - q, a) && -exact <= StoppableSpeed(q - _lower[j], a))
            {
                // Reachable within every limit, arriving at about the target's own speed (so a stop or the next step
                // is still within the limits): commanded as is, so a smooth chunk passes bit for bit.
                _velocity[j] = exact;
                _position[j] = t;
                command[j] = t;
                continue;
            }

            // Close in on the target as seen from the target (its velocity plus an approach it can brake out of), so a
            // moving target is caught up with rather than trailed, and a still one is reached without overshoot.
            var next = targetVelocity + (Math.Sign(e) * StoppableSpeed(Math.Abs(e), a));
            next = Math.Clamp(next, -vmax, vmax);
            next = Math.Clamp(next, v - (a * _dt), v + (a * _dt));
            var moved = Move(j, next, _dt);
            command[j] = moved;
            limited |= moved != t;
        }

        return limited;
    }

    /// <summary>One period of a controlled stop into <paramref name="command"/>; true once every joint is at rest.</summary>
    public bool Stop(Span<float> command) => Stop(command, _dt);

    /// <summary>
    /// A controlled stop's step over <paramref name="seconds"/> (0 &lt; seconds ≤ one period) into <paramref name="command"/>:
    /// the first step of a stop started between two periods (an e-stop heard mid-period), its velocity and acceleration
    /// within the limits over that interval; the steps after it are whole periods again. True once every joint is at rest.
    /// </summary>
    public bool Stop(Span<float> command, double seconds)
    {
        if (!(seconds > 0) || seconds > _dt)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"a stop step spans more than nothing and at most one period ({_dt} s)");
        }

        var atRest = true;
        for (var j = 0; j < _position.Length; j++)
        {
            var v = _velocity[j];
            var dv = _maxAcceleration[j] * seconds;
            var next = v > 0 ? Math.Max(v - dv, 0) : Math.Min(v + dv, 0);
            command[j] = Move(j, next, seconds);
            _lastTarget[j] = command[j];
            atRest &= _velocity[j] == 0;
        }

        return atRest;
    }

    /// <summary>
    /// Whether a stop step over <paramref name="seconds"/> (less than a period) would brake every joint at no more than
    /// its acceleration limit. Not so for a joint arriving at an end of its range (or at a point it can only just
    /// stop at) at a speed the next whole period was planned to absorb: braking it within less than that period would
    /// take more than the limit. Such a joint is already stopping; the stop then begins on the next whole period.
    /// </summary>
    public bool CanStopWithin(double seconds)
    {
        if (!(seconds > 0) || seconds > _dt)
        {
            return false;
        }

        for (var j = 0; j < _position.Length; j++)
        {
            var q = _position[j];
            var v = _velocity[j];
            var a = _maxAcceleration[j];
            var next = v > 0 ? Math.Max(v - (a * seconds), 0) : Math.Min(v + (a * seconds), 0);
            if (next > StoppableSpeed(_upper[j] - q, a, seconds) || -next > StoppableSpeed(q - _lower[j], a, seconds))
            {
                return false;
            }

            var moved = q + (next * seconds);
            if (moved > _upper[j] || moved < _lower[j])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Applies <paramref name="velocity"/> to joint <paramref name="j"/> for <paramref name="dt"/> within its range and returns the new position.</summary>
    private float Move(int j, double velocity, double dt)
    {
        var q = _position[j];
        var a = _maxAcceleration[j];

        // Never so fast towards an end of the range that braking at the limit could not stop before it.
        velocity = Math.Min(velocity, StoppableSpeed(_upper[j] - q, a, dt));
        velocity = Math.Max(velocity, -StoppableSpeed(q - _lower[j], a, dt));
        var moved = Math.Clamp((float)(q + (velocity * dt)), _lower[j], _upper[j]);

        // The velocity is what the float commands imply, so the limits hold for the sequence the driver receives.
        _velocity[j] = ((double)moved - q) / dt;
        _position[j] = moved;
        return moved;
    }

    /// <summary>
    /// The fastest speed towards a point <paramref name="distance"/> ahead from which, after this period, braking
    /// at <paramref name="acceleration"/> stops within it: v·dt + v²/(2a) ≤ d. Also reaching the point exactly this
    /// period is allowed when the next period can stop from that speed (v ≤ a·dt), so targets at a range end are hit.
    /// </summary>
    private double StoppableSpeed(double distance, double acceleration) => StoppableSpeed(distance, acceleration, _dt);

    private static double StoppableSpeed(double distance, double acceleration, double dt)
    {
        if (distance <= 0)
        {
            return 0;
        }

        var adt = acceleration * dt;
        var braking = -adt + Math.Sqrt((adt * adt) + (2 * acceleration * distance));
        return Math.Max(braking, Math.Min(distance / dt, adt));
    }
}
