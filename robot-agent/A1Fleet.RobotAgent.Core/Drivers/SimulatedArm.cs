using A1Fleet.Grains;

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

    public SimulatedArm(EmbodimentProfile profile, int seed)
    {
        _profile = profile;
        var dt = 1.0 / profile.ControlHz;
        _alpha = (float)(1 - Math.Exp(-dt / profile.TrackingTimeConstantSeconds));
        _maxStep = profile.Joints.Select(j => (float)(j.MaxVelocity * dt)).ToArray();

        // Start near home, a little different per seed, so a fleet of simulated arms is not in lockstep.
        var random = new Random(seed);
        _position = new float[profile.JointCount];
        for (var i = 0; i < _position.Length; i++)
        {
            var joint = profile.Joints[i];
            var spread = joint.IsGripper ? 0.1f * (joint.Upper - joint.Lower) : 0.05f;
            var start = joint.Home + (((float)random.NextDouble() * 2) - 1) * spread;
            _position[i] = Math.Clamp(start, joint.Lower, joint.Upper);
        }
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

    public float[] ReadState() => (float[])_position.Clone();

    public void ReadState(Span<float> destination) => _position.CopyTo(destination);

    public void Command(ReadOnlySpan<float> jointTargets)
    {
        if (jointTargets.Length != _position.Length)
        {
            throw new ArgumentException($"{_profile.Embodiment} takes {_position.Length} joint targets, got {jointTargets.Length}", nameof(jointTargets));
        }

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

            var step = Math.Clamp((target - _position[i]) * _alpha, -_maxStep[i], _maxStep[i]);
            _position[i] = Math.Clamp(_position[i] + step, lower[i], upper[i]);
        }

        Periods++;
    }

    public void Hold() => Periods++;
}
