using A1Fleet.Grains;
using A1Fleet.Motion;

namespace A1Fleet.RobotAgent.Drivers;

/// <summary>
/// A simulated arm of any profile. Each <see cref="Command"/> or <see cref="Hold"/> advances it by one
/// control period: the control loop's clock is its clock, so it has no thread or timer of its own and a
/// run is reproducible from its seed. Position control is a first-order lag towards the target, capped
/// at the joint's top speed, and the position never leaves the joint's range (a real arm faults there;
/// the control loop clamps before commanding, so the sim saturating is never what keeps it safe).
/// </summary>
public sealed class SimulatedArm : IArmDriver
{
    private readonly EmbodimentProfile _profile;
    private readonly float[] _position;
    private readonly float[] _maxStep;
    private readonly float _alpha;
    private readonly double _dt;
    private readonly float[] _lastTarget;
    private readonly double[] _lastVelocity;
    private readonly Action<DriverLimit>? _limitViolated;
    private long _limitViolations;

    /// <param name="limitViolated">
    /// Called once per limit a command broke (see <see cref="LimitViolations"/>); the agent counts it as a metric.
    /// </param>
    public SimulatedArm(EmbodimentProfile profile, int seed, Action<DriverLimit>? limitViolated = null)
    {
        _profile = profile;
        _limitViolated = limitViolated;
        var dt = 1.0 / profile.ControlHz;
        _dt = dt;
        _alpha = (float)(1 - Math.Exp(-dt / profile.TrackingTimeConstantSeconds));
        _maxStep = profile.Joints.Select(j => (float)(j.MaxVelocity * dt)).ToArray();

        _position = new float[profile.JointCount];
        _lastTarget = new float[profile.JointCount];
        _lastVelocity = new double[_position.Length];
        PlaceAtStart(seed);
    }

    public SimulatedArm(Embodiment embodiment, int seed)
        : this(EmbodimentProfile.For(embodiment), seed)
    {
    }

    public Embodiment Embodiment => _profile.Embodiment;

    public int JointCount => _position.Length;

    public JointLimits JointLimits => _profile.Limits;

    public double ControlHz => _profile.ControlHz;

    public EmbodimentProfile Profile => _profile;

    /// <summary>Control periods simulated so far.</summary>
    public long Periods { get; private set; }

    /// <summary>
    /// Commands that broke a joint's position range, top speed or top acceleration, as this driver checks what it
    /// receives against its own profile: the target's step from the previous target (a hold is a target at rest)
    /// over one control period (over the interval given, for a shortened one). Independent of the agent's <see cref="Control.MotionLimiter"/>, so it counts what a
    /// real driver would have been sent if the limiter failed. Thread-safe to read.
    /// </summary>
    public long LimitViolations => Interlocked.Read(ref _limitViolations);

    /// <summary>
    /// A simulator's episode reset: the arm is at the start pose of <paramref name="seed"/> (the pose a new arm of that seed
    /// starts in), at rest. Not a motion, so nothing is checked against the limits; whoever commands the arm next must
    /// take up from the pose read back (the control loop re-syncs its limiter). Not one control period: <see cref="Periods"/> stays.
    /// </summary>
    public void Reset(int seed) => PlaceAtStart(seed);

    public float[] ReadState() => (float[])_position.Clone();

    public void ReadState(Span<float> destination) => _position.CopyTo(destination);

    public void Command(ReadOnlySpan<float> jointTargets) => Move(jointTargets, _dt, _alpha, 1);

    /// <summary>A command a shortened period after the previous one: checked, and followed, over that interval.</summary>
    public void Command(ReadOnlySpan<float> jointTargets, TimeSpan interval)
    {
        var dt = interval.TotalSeconds;
        if (!(dt > 0) || dt > _dt)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, $"a shortened period is more than nothing and at most one period ({_dt} s)");
        }

        Move(jointTargets, dt, (float)(1 - Math.Exp(-dt / _profile.TrackingTimeConstantSeconds)), (float)(dt / _dt));
    }

    private void Move(ReadOnlySpan<float> jointTargets, double dt, float alpha, float share)
    {
        if (jointTargets.Length != _position.Length)
        {
            throw new ArgumentException($"{_profile.Embodiment} takes {_position.Length} joint targets, got {jointTargets.Length}", nameof(jointTargets));
        }

        CheckLimits(jointTargets, dt);
        var lower = _profile.Limits.Lower;
        var upper = _profile.Limits.Upper;
        for (var i = 0; i < _position.Length; i++)
        {
            var target = jointTargets[i];
            if (!float.IsFinite(target))
            {
                // A non-finite target is a fault upstream; the simulated servo ignores it rather than jump.
                continue;
            }

            var step = Math.Clamp((target - _position[i]) * alpha, -_maxStep[i] * share, _maxStep[i] * share);
            _position[i] = Math.Clamp(_position[i] + step, lower[i], upper[i]);
        }

        Periods++;
    }

    public void Hold()
    {
        // The arm stays at its last target: at rest, so the next command accelerates from zero.
        Array.Clear(_lastVelocity);
        Periods++;
    }

    private void PlaceAtStart(int seed)
    {
        // Start near home, a little different per seed, so a fleet of simulated arms is not in lockstep.
        var random = new Random(seed);
        for (var i = 0; i < _position.Length; i++)
        {
            var joint = _profile.Joints[i];
            var spread = joint.IsGripper ? 0.1f * (joint.Upper - joint.Lower) : 0.05f;
            var start = joint.Home + (((float)random.NextDouble() * 2) - 1) * spread;
            _position[i] = Math.Clamp(start, joint.Lower, joint.Upper);
        }

        _position.CopyTo(_lastTarget, 0);
        Array.Clear(_lastVelocity);
    }

    /// <summary>
    /// Slack for float rounding only: the limiter computes in double and commands floats, so a step exactly at the
    /// limit can come out a few ulps over it. Anything a real limiter error would produce is far larger.
    /// </summary>
    private const double Slack = 1e-4;

    private void CheckLimits(ReadOnlySpan<float> targets, double dt)
    {
        bool position = false, velocity = false, acceleration = false;
        var joints = _profile.Joints;
        for (var i = 0; i < targets.Length; i++)
        {
            var joint = joints[i];
            var target = targets[i];
            if (!float.IsFinite(target))
            {
                // Not a motion the servo follows (Command ignores it), but never a target a driver should get.
                position = true;
                continue;
            }

            var range = (double)joint.Upper - joint.Lower;
            position |= target < joint.Lower - (Slack * range) || target > joint.Upper + (Slack * range);
            var v = ((double)target - _lastTarget[i]) / dt;
            velocity |= Math.Abs(v) > joint.MaxVelocity * (1 + Slack) + Slack;
            acceleration |= Math.Abs(v - _lastVelocity[i]) / dt > joint.MaxAcceleration * (1 + Slack) + (Slack / dt);
            _lastVelocity[i] = v;
            _lastTarget[i] = target;
        }

        if (position || velocity || acceleration)
        {
            Interlocked.Increment(ref _limitViolations);
            if (_limitViolated is { } report)
            {
                if (position)
                {
                    report(DriverLimit.Position);
                }

                if (velocity)
                {
                    report(DriverLimit.Velocity);
                }

                if (acceleration)
                {
                    report(DriverLimit.Acceleration);
                }
            }
        }
    }
}

/// <summary>Which joint limit a command sent to the driver broke.</summary>
public enum DriverLimit
{
    Position,
    Velocity,
    Acceleration,
}
