using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Camera;

/// <summary>
/// Where an arm's gripper appears on the table, from its joints: a forward-kinematics-ish sketch, not a
/// model of any arm. Base yaw turns the reach direction; shoulder and elbow set the reach; the other
/// joints nudge the tip a little so that every joint shows in the picture. Bounded for any joint values.
/// </summary>
internal static class ArmSketch
{
    public static (float X, float Y, float Opening) Tip(EmbodimentProfile profile, ArmLayout arm, ReadOnlySpan<float> joints)
    {
        var yaw = joints[arm.FirstJoint];
        var shoulder = joints[arm.ShoulderJoint];
        var elbow = joints[arm.ElbowJoint];
        var reach = 0.2f + (0.25f * (0.5f + (0.5f * MathF.Sin(shoulder)))) + (0.25f * (0.5f + (0.5f * MathF.Cos(elbow))));

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

        var x = Math.Clamp(arm.BaseX + (reach * MathF.Sin(yaw) * 0.8f) + nudgeX, 0.02f, 0.98f);
        var y = Math.Clamp(arm.BaseY - (reach * MathF.Cos(yaw)) + nudgeY, 0.05f, 0.98f);
        var gripper = profile.Joints[arm.GripperJoint];
        var opening = Math.Clamp((joints[arm.GripperJoint] - gripper.Lower) / (gripper.Upper - gripper.Lower), 0f, 1f);
        return (x, y, opening);
    }
}
