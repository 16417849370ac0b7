using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tasks;

/// <summary>
/// The demonstrator for the tabletop task family: it reads the world (block positions a policy only sees in the
/// camera images) and plans in table coordinates, moving a commanded tip point towards the next waypoint at
/// <see cref="TipSpeed"/> and turning it into joint targets with <see cref="ArmSketch.Solve"/>. Touch: over the
/// block with the gripper open, then close it. Push: open to a point beside the block on the far side, close (the
/// gripper lowers), then push through to <see cref="TabletopWorld.PushDistance"/> and a little more. The other
/// joints go to their home positions. One expert per episode.
/// </summary>
public sealed class ScriptedExpert : ITabletopPolicy
{
    /// <summary>Table units per second the commanded tip moves at.</summary>
    public const float TipSpeed = 0.4f;

    /// <summary>How close the measured tip must be to a waypoint before the next phase starts.</summary>
    public const float Tolerance = 0.012f;

    private const float Clearance = 0.03f;
    private const float Overshoot = 0.04f;

    private readonly EmbodimentProfile _profile;
    private readonly float _step;
    private readonly float _tolerance;
    private readonly float? _maxLead;
    private TabletopWorld? _world;
    private float[] _targets = [];
    private float _cmdX;
    private float _cmdY;
    private Phase _phase;

    public ScriptedExpert(EmbodimentProfile profile)
        : this(profile, Tolerance, null)
    {
    }

    /// <summary>
    /// An expert for labelling states another policy visits (DAgger): <paramref name="tolerance"/> is how close the
    /// measured tip must come to a waypoint (a policy is less precise than the expert, so a labeller allows more);
    /// <paramref name="maxLead"/>, when given, keeps the commanded tip point at most that far ahead of the measured
    /// tip, so labels follow the arm's state rather than the time since the episode began.
    /// </summary>
    public ScriptedExpert(EmbodimentProfile profile, float tolerance, float? maxLead)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tolerance);
        if (maxLead is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLead), maxLead, "a lead is positive");
        }

        _profile = profile;
        _step = (float)(TipSpeed / profile.ControlHz);
        _tolerance = tolerance;
        _maxLead = maxLead;
    }

    /// <summary>The expert a DAgger labeller uses (<see cref="TabletopDemonstrations.RecordCorrections"/>).</summary>
    public static ScriptedExpert Labeller(EmbodimentProfile profile) => new(profile, LabelTolerance, LabelMaxLead);

    /// <summary>Waypoint tolerance of <see cref="Labeller"/>: about a pixel and a half of a 64x64 front image.</summary>
    public const float LabelTolerance = 0.025f;

    /// <summary>Lead of <see cref="Labeller"/>'s commanded point over the measured tip (the expert's own is about 0.03).</summary>
    public const float LabelMaxLead = 0.05f;

    private enum Phase
    {
        Approach,
        Lower,
        Push,
    }

    public void Begin(TabletopWorld world, ReadOnlySpan<float> joints)
    {
        _world = world;
        _targets = new float[_profile.JointCount];
        for (var j = 0; j < _targets.Length; j++)
        {
            _targets[j] = _profile.Joints[j].Home;
        }

        (_cmdX, _cmdY, _) = ArmSketch.Tip(_profile, world.Arm, joints);
        _phase = Phase.Approach;
    }

    public void Act(in TabletopObservation observation, Span<float> jointTargets)
    {
        var world = _world ?? throw new InvalidOperationException("Begin the episode first");
        var arm = world.Arm;
        var (x, y, opening) = ArmSketch.Tip(_profile, arm, observation.Joints);
        var block = world.TargetBlock;
        var side = world.Skill == TabletopSkill.PushLeft ? -1f : 1f;
        var behind = (block.Size / 2) + TabletopWorld.TipRadius + Clearance;

        // Waypoint and gripper of the current phase; the phase moves on once the measured tip is there.
        (float X, float Y) waypoint;
        bool closed;
        switch (_phase)
        {
            case Phase.Approach:
                waypoint = world.Skill == TabletopSkill.Touch ? (block.X, block.Y) : (block.X - (side * behind), block.Y);
                closed = false;
                if (Near(x, y, waypoint))
                {
                    _phase = Phase.Lower;
                }

                break;
            case Phase.Lower:
                waypoint = world.Skill == TabletopSkill.Touch ? (block.X, block.Y) : (world.TargetStartX - (side * behind), block.Y);
                closed = true;
                if (opening < TabletopWorld.LoweredOpening && world.Skill != TabletopSkill.Touch)
                {
                    _phase = Phase.Push;
                }

                break;
            default:
                // Push through until the block's near edge is past the line, then stay.
                var end = world.TargetStartX + (side * (TabletopWorld.PushDistance + Overshoot)) - (side * ((block.Size / 2) + TabletopWorld.TipRadius));
                waypoint = (end, _cmdY);
                closed = true;
                break;
        }

        if (_maxLead is { } lead)
        {
            var ax = _cmdX - x;
            var ay = _cmdY - y;
            var ahead = MathF.Sqrt((ax * ax) + (ay * ay));
            if (ahead > lead)
            {
                _cmdX = x + (ax / ahead * lead);
                _cmdY = y + (ay / ahead * lead);
            }
        }

        var dx = waypoint.X - _cmdX;
        var dy = waypoint.Y - _cmdY;
        var distance = MathF.Sqrt((dx * dx) + (dy * dy));
        if (distance > _step)
        {
            _cmdX += dx / distance * _step;
            _cmdY += dy / distance * _step;
        }
        else
        {
            (_cmdX, _cmdY) = waypoint;
        }

        ArmSketch.Solve(_profile, arm, _cmdX, _cmdY, _targets);
        var gripper = _profile.Joints[arm.GripperJoint];
        _targets[arm.GripperJoint] = closed ? gripper.Lower : gripper.Upper;
        _targets.CopyTo(jointTargets);
    }

    private bool Near(float x, float y, (float X, float Y) point) =>
        MathF.Abs(x - point.X) <= _tolerance && MathF.Abs(y - point.Y) <= _tolerance;
}
