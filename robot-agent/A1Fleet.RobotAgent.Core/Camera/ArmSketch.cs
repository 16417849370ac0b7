using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Camera;

/// <summary>
/// The simulator's forward kinematics, in one place: where an arm's gripper is on the table (0..1 across and
/// down the front camera's image) and how open it is, from its joints. A forward-kinematics-ish sketch, not a
/// model of any arm: base yaw turns the reach direction; shoulder and elbow set the reach; the other joints
/// nudge the tip a little so that every joint shows in the picture. Bounded for any joint values. The camera
/// draws the gripper here, the tabletop world pushes and touches objects here, and <see cref="Solve"/> inverts
/// it for the scripted expert.
/// </summary>
public static class ArmSketch
{
    private const float MinReach = 0.2f;
    private const float ReachPerJoint = 0.25f;
    private const float SidewaysScale = 0.8f;

    public static (float X, float Y, float Opening) Tip(EmbodimentProfile profile, ArmLayout arm, ReadOnlySpan<float> joints)
    {
        var yaw = joints[arm.FirstJoint];
        var shoulder = joints[arm.ShoulderJoint];
        var elbow = joints[arm.ElbowJoint];
        var reach = MinReach + (ReachPerJoint * (0.5f + (0.5f * MathF.Sin(shoulder)))) + (ReachPerJoint * (0.5f + (0.5f * MathF.Cos(elbow))));
        var (nudgeX, nudgeY) = Nudge(arm, joints);
        var x = Math.Clamp(arm.BaseX + (reach * MathF.Sin(yaw) * SidewaysScale) + nudgeX, 0.02f, 0.98f);
        var y = Math.Clamp(arm.BaseY - (reach * MathF.Cos(yaw)) + nudgeY, 0.05f, 0.98f);
        var gripper = profile.Joints[arm.GripperJoint];
        var opening = Math.Clamp((joints[arm.GripperJoint] - gripper.Lower) / (gripper.Upper - gripper.Lower), 0f, 1f);
        return (x, y, opening);
    }

    /// <summary>
    /// Inverse of <see cref="Tip"/> for the yaw, shoulder and elbow joints: sets them in <paramref name="joints"/>
    /// so the tip is at (<paramref name="x"/>, <paramref name="y"/>), keeping every other joint as given (their
    /// nudge is subtracted first). Shoulder and elbow share the reach equally. Points out of reach come out at
    /// the nearest reachable distance in the same direction; joints stay within their limits.
    /// </summary>
    public static void Solve(EmbodimentProfile profile, ArmLayout arm, float x, float y, Span<float> joints)
    {
        var (nudgeX, nudgeY) = Nudge(arm, joints);
        var dx = (x - nudgeX - arm.BaseX) / SidewaysScale;
        var dy = arm.BaseY - (y - nudgeY);
        var yaw = MathF.Atan2(dx, dy);
        var reach = MathF.Sqrt((dx * dx) + (dy * dy));

        // reach = MinReach + ReachPerJoint (f_s + f_e) with f_s = (1 + sin shoulder) / 2, f_e = (1 + cos elbow) / 2.
        var share = Math.Clamp((reach - MinReach) / (2 * ReachPerJoint), 0f, 1f);
        var c = (2 * share) - 1;
        // sin and cos each give two angles; take the one within the joint's range (an elbow may bend either way).
        var shoulder = Within(profile, arm.ShoulderJoint, MathF.Asin(c), MathF.PI - MathF.Asin(c));
        var elbow = Within(profile, arm.ElbowJoint, -MathF.Acos(c), MathF.Acos(c));
        Set(profile, arm.FirstJoint, yaw, joints);
        Set(profile, arm.ShoulderJoint, shoulder, joints);
        Set(profile, arm.ElbowJoint, elbow, joints);
    }

    private static float Within(EmbodimentProfile profile, int joint, float first, float second)
    {
        var spec = profile.Joints[joint];
        return first >= spec.Lower && first <= spec.Upper ? first
            : second >= spec.Lower && second <= spec.Upper ? second
            : Math.Abs(Math.Clamp(first, spec.Lower, spec.Upper) - first) <= Math.Abs(Math.Clamp(second, spec.Lower, spec.Upper) - second) ? first : second;
    }

    private static void Set(EmbodimentProfile profile, int joint, float value, Span<float> joints)
    {
        var spec = profile.Joints[joint];
        joints[joint] = Math.Clamp(value, spec.Lower, spec.Upper);
    }

    private static (float X, float Y) Nudge(ArmLayout arm, ReadOnlySpan<float> joints)
    {
        var nudgeX = 0f;
        var nudgeY = 0f;
        for (var j = arm.FirstJoint; j < arm.GripperJoint; j++)
        {
            if (j != arm.FirstJoint && j != arm.ShoulderJoint && j != arm.ElbowJoint)
            {
                nudgeX += 0.02f * MathF.Sin(joints[j] * (j - arm.FirstJoint + 1));
                nudgeY += 0.02f * MathF.Cos(joints[j] * (j - arm.FirstJoint + 2));
            }
        }

        return (nudgeX, nudgeY);
    }
}
