using A1Fleet.Grains;

namespace A1Fleet.Motion;

/// <summary>
/// The four arms the fleet knows. Dual-arm bodies list the left arm and its gripper first, then the right:
/// a single-arm model (7 joints + gripper, like the reference models) then drives the left arm and its
/// gripper exactly, and the right arm holds (see <see cref="ModelAdapter"/>).
/// </summary>
public static class EmbodimentProfiles
{
    private const float Deg = MathF.PI / 180f;

    /// <summary>
    /// Franka Emika Panda, limits, joint speeds and joint accelerations (15, 7.5, 10, 12.5, 15, 20, 20 rad/s²)
    /// from Franka's "Robot and interface specifications" (the reference models' q01/q99 are these limits pulled
    /// 0.05 rad inside). Franka Hand: 0..0.08 m between the fingers, 0.05 m/s per finger; 1 m/s² is ours
    /// (full speed in 0.1 s; the hand's data sheet gives none). 20 Hz policy actions, as in the A1 paper.
    /// </summary>
    public static EmbodimentProfile Franka { get; } = new(
        Embodiment.Franka,
        "Franka Emika Panda + Franka Hand (data sheet limits)",
        controlHz: 20,
        joints:
        [
            new("panda_joint1", -2.8973f, 2.8973f, 2.1750f, 15f, 0f),
            new("panda_joint2", -1.7628f, 1.7628f, 2.1750f, 7.5f, -0.785f),
            new("panda_joint3", -2.8973f, 2.8973f, 2.1750f, 10f, 0f),
            new("panda_joint4", -3.0718f, -0.0698f, 2.1750f, 12.5f, -2.356f),
            new("panda_joint5", -2.8973f, 2.8973f, 2.6100f, 15f, 0f),
            new("panda_joint6", -0.0175f, 3.7525f, 2.6100f, 20f, 1.571f),
            new("panda_joint7", -2.8973f, 2.8973f, 2.6100f, 20f, 0.785f),
            new("panda_hand_width", 0f, 0.08f, 0.10f, 1.0f, 0.04f, IsGripper: true),
        ],
        arms: [new ArmLayout(FirstJoint: 0, ShoulderJoint: 1, ElbowJoint: 3, GripperJoint: 7, BaseX: 0.5f, BaseY: 0.92f)]);

    /// <summary>
    /// AgiBot G1 (Genie-1): two 7-DoF arms with one gripper each. AgiBot publishes no joint table we could
    /// verify, so these limits are plausible values for a 7-DoF humanoid arm of its class (replace them from
    /// the vendor's URDF), with 10 rad/s² per joint (full speed in 0.3 s, the order of the Panda's slower joints).
    /// The gripper is the 0..1 closing ratio AgiBot World records (20 /s²). 30 Hz, the rate AgiBot World is
    /// recorded at.
    /// </summary>
    public static EmbodimentProfile AgiBot { get; } = new(
        Embodiment.AgiBot,
        "AgiBot G1 dual 7-DoF arms + 2 grippers (plausible limits, not a data sheet)",
        controlHz: 30,
        joints: [.. AgiBotArm("left"), .. AgiBotArm("right")],
        arms:
        [
            new ArmLayout(FirstJoint: 0, ShoulderJoint: 1, ElbowJoint: 3, GripperJoint: 7, BaseX: 0.3f, BaseY: 0.92f),
            new ArmLayout(FirstJoint: 8, ShoulderJoint: 9, ElbowJoint: 11, GripperJoint: 15, BaseX: 0.7f, BaseY: 0.92f),
        ]);

    /// <summary>
    /// Enactic OpenArm v1.0, bimanual: position limits from openarm_description's v10 URDF (the right arm's;
    /// the left arm's joint 1 is its mirror). The URDF's velocity entries (45, 8, 30 rad/s) are motor ratings,
    /// so joint speed is capped at a plausible 3 rad/s and acceleration at 10 rad/s² (the URDF has none; full speed
    /// in 0.3 s). Gripper: one finger joint, 0..0.044 m, 1 m/s². 30 Hz.
    /// </summary>
    public static EmbodimentProfile OpenArm { get; } = new(
        Embodiment.OpenArm,
        "Enactic OpenArm v1.0 bimanual 7-DoF + 2 grippers (URDF limits)",
        controlHz: 30,
        joints: [.. OpenArmArm("left", mirror: true), .. OpenArmArm("right", mirror: false)],
        arms:
        [
            new ArmLayout(FirstJoint: 0, ShoulderJoint: 1, ElbowJoint: 3, GripperJoint: 7, BaseX: 0.25f, BaseY: 0.9f),
            new ArmLayout(FirstJoint: 8, ShoulderJoint: 9, ElbowJoint: 11, GripperJoint: 15, BaseX: 0.75f, BaseY: 0.9f),
        ]);

    /// <summary>
    /// Dobot CR5 (CR series): J1, J2, J4, J5, J6 ±360°, J3 ±160°, 180°/s per joint (Dobot's CR data sheet);
    /// 360°/s² per joint is ours (full speed in 0.5 s: a collaborative arm's gentle default; the data sheet gives
    /// none). Gripper: a 0..0.05 m parallel gripper of the DH-Robotics PGC-50 kind (plausible). 25 Hz, within the
    /// rate the CR's servo interface follows smoothly (plausible).
    /// </summary>
    public static EmbodimentProfile Dobot { get; } = new(
        Embodiment.Dobot,
        "Dobot CR5 6-axis + parallel gripper (data sheet joint limits)",
        controlHz: 25,
        joints:
        [
            new("cr_j1", -360 * Deg, 360 * Deg, 180 * Deg, 360 * Deg, 0f),
            new("cr_j2", -360 * Deg, 360 * Deg, 180 * Deg, 360 * Deg, -0.3f),
            new("cr_j3", -160 * Deg, 160 * Deg, 180 * Deg, 360 * Deg, 1.5f),
            new("cr_j4", -360 * Deg, 360 * Deg, 180 * Deg, 360 * Deg, -1.2f),
            new("cr_j5", -360 * Deg, 360 * Deg, 180 * Deg, 360 * Deg, -1.571f),
            new("cr_j6", -360 * Deg, 360 * Deg, 180 * Deg, 360 * Deg, 0f),
            new("gripper_width", 0f, 0.05f, 0.10f, 1.0f, 0.025f, IsGripper: true),
        ],
        arms: [new ArmLayout(FirstJoint: 0, ShoulderJoint: 1, ElbowJoint: 2, GripperJoint: 6, BaseX: 0.5f, BaseY: 0.92f)]);

    private static JointSpec[] AgiBotArm(string side) =>
    [
        new($"{side}_arm_joint1", -3.05f, 3.05f, 3.0f, 10f, 0f),
        new($"{side}_arm_joint2", -2.05f, 2.05f, 3.0f, 10f, -0.5f),
        new($"{side}_arm_joint3", -3.05f, 3.05f, 3.0f, 10f, 0f),
        new($"{side}_arm_joint4", -2.50f, 0.10f, 3.0f, 10f, -1.2f),
        new($"{side}_arm_joint5", -3.05f, 3.05f, 3.0f, 10f, 0f),
        new($"{side}_arm_joint6", -1.55f, 1.55f, 3.0f, 10f, 0.5f),
        new($"{side}_arm_joint7", -3.05f, 3.05f, 3.0f, 10f, 0f),
        new($"{side}_gripper", 0f, 1f, 2.0f, 20f, 0f, IsGripper: true),
    ];

    private static JointSpec[] OpenArmArm(string side, bool mirror) =>
    [
        mirror ? new($"openarm_{side}_joint1", -3.490659f, 1.396263f, 3.0f, 10f, 0f) : new($"openarm_{side}_joint1", -1.396263f, 3.490659f, 3.0f, 10f, 0f),
        new($"openarm_{side}_joint2", -1.745329f, 1.745329f, 3.0f, 10f, 0f),
        new($"openarm_{side}_joint3", -1.570796f, 1.570796f, 3.0f, 10f, 0f),
        new($"openarm_{side}_joint4", 0f, 2.443461f, 3.0f, 10f, 0.6f),
        new($"openarm_{side}_joint5", -1.570796f, 1.570796f, 3.0f, 10f, 0f),
        new($"openarm_{side}_joint6", -0.785398f, 0.785398f, 3.0f, 10f, 0f),
        new($"openarm_{side}_joint7", -1.570796f, 1.570796f, 3.0f, 10f, 0f),
        new($"openarm_{side}_finger_joint1", 0f, 0.044f, 0.10f, 1.0f, 0.02f, IsGripper: true),
    ];
}
