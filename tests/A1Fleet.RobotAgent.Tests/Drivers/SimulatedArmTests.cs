using A1Fleet.Grains;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tests.Drivers;

public sealed class SimulatedArmTests
{
    public static TheoryData<Embodiment> Embodiments => [Embodiment.Franka, Embodiment.AgiBot, Embodiment.OpenArm, Embodiment.Dobot];

    [Theory]
    [InlineData(Embodiment.Franka, 8, 20)]
    [InlineData(Embodiment.AgiBot, 16, 30)]
    [InlineData(Embodiment.OpenArm, 16, 30)]
    [InlineData(Embodiment.Dobot, 7, 25)]
    public void Constructor_Embodiment_HasItsJointsAndControlRate(Embodiment embodiment, int joints, double controlHz)
    {
        var arm = new SimulatedArm(embodiment, seed: 1);

        Assert.Equal(embodiment, arm.Embodiment);
        Assert.Equal(joints, arm.JointCount);
        Assert.Equal(joints, arm.JointLimits.Count);
        Assert.Equal(controlHz, arm.ControlHz);
        Assert.Equal(joints, arm.ReadState().Length);
    }

    [Fact]
    public void JointLimits_Franka_MatchThePandaDataSheet()
    {
        var limits = new SimulatedArm(Embodiment.Franka, 1).JointLimits;

        Assert.Equal([-2.8973f, -1.7628f, -2.8973f, -3.0718f, -2.8973f, -0.0175f, -2.8973f, 0f], limits.Lower.ToArray());
        Assert.Equal([2.8973f, 1.7628f, 2.8973f, -0.0698f, 2.8973f, 3.7525f, 2.8973f, 0.08f], limits.Upper.ToArray());
    }

    [Fact]
    public void JointLimits_Dobot_Are360DegreesExceptJoint3At160()
    {
        var limits = new SimulatedArm(Embodiment.Dobot, 1).JointLimits;

        foreach (var j in new[] { 0, 1, 3, 4, 5 })
        {
            Assert.Equal(2 * MathF.PI, limits.Upper[j], 4);
            Assert.Equal(-2 * MathF.PI, limits.Lower[j], 4);
        }

        Assert.Equal(160 * MathF.PI / 180, limits.Upper[2], 4);
        Assert.Equal(0f, limits.Lower[6]);
    }

    [Theory]
    [InlineData(Embodiment.AgiBot)]
    [InlineData(Embodiment.OpenArm)]
    public void Profile_DualArm_ListsLeftArmAndGripperThenRight(Embodiment embodiment)
    {
        var profile = EmbodimentProfile.For(embodiment);

        Assert.Equal(2, profile.Arms.Count);
        Assert.Equal([7, 15], profile.Joints.Select((j, i) => (j, i)).Where(x => x.j.IsGripper).Select(x => x.i));
        Assert.All(profile.Joints.Take(8), j => Assert.StartsWith(embodiment == Embodiment.AgiBot ? "left" : "openarm_left", j.Name, StringComparison.Ordinal));
    }

    [Fact]
    public void JointLimits_OpenArm_LeftJoint1MirrorsTheRight()
    {
        var limits = new SimulatedArm(Embodiment.OpenArm, 1).JointLimits;

        Assert.Equal(-limits.Upper[8], limits.Lower[0], 5);
        Assert.Equal(-limits.Lower[8], limits.Upper[0], 5);
        Assert.Equal(0.044f, limits.Upper[7]);
    }

    [Theory]
    [MemberData(nameof(Embodiments))]
    public void ReadState_AnySeed_WithinLimits(Embodiment embodiment)
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var arm = new SimulatedArm(embodiment, seed);
            var state = arm.ReadState();

            Assert.All(Enumerable.Range(0, state.Length), j => Assert.True(arm.JointLimits.Contains(j, state[j]), $"seed {seed} joint {j}: {state[j]}"));
        }
    }

    [Fact]
    public void Constructor_SameSeed_SameStartAndDifferentSeedDiffers()
    {
        Assert.Equal(new SimulatedArm(Embodiment.Franka, 3).ReadState(), new SimulatedArm(Embodiment.Franka, 3).ReadState());
        Assert.NotEqual(new SimulatedArm(Embodiment.Franka, 3).ReadState(), new SimulatedArm(Embodiment.Franka, 4).ReadState());
    }

    [Theory]
    [MemberData(nameof(Embodiments))]
    public void Command_FarTarget_MovesNoFasterThanTheJointsTopSpeed(Embodiment embodiment)
    {
        var arm = new SimulatedArm(embodiment, 1);
        var profile = arm.Profile;
        var before = arm.ReadState();
        var target = profile.Joints.Select(j => j.Upper).ToArray();

        arm.Command(target);

        var after = arm.ReadState();
        for (var j = 0; j < after.Length; j++)
        {
            var maxStep = profile.Joints[j].MaxVelocity / arm.ControlHz;
            Assert.True(after[j] - before[j] <= maxStep + 1e-5, $"joint {j} moved {after[j] - before[j]} > {maxStep}");
            Assert.True(after[j] >= before[j]);
        }
    }

    [Theory]
    [MemberData(nameof(Embodiments))]
    public void Command_SameTargetRepeatedly_ConvergesToIt(Embodiment embodiment)
    {
        var arm = new SimulatedArm(embodiment, 1);
        var target = arm.Profile.Joints.Select(j => j.Lower + (0.3f * (j.Upper - j.Lower))).ToArray();

        for (var i = 0; i < 200; i++)
        {
            arm.Command(target);
        }

        var state = arm.ReadState();
        for (var j = 0; j < state.Length; j++)
        {
            Assert.Equal(target[j], state[j], 3);
        }
    }

    [Fact]
    public void Command_TargetBeyondLimits_StateStaysWithinLimits()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);
        var target = Enumerable.Repeat(10f, arm.JointCount).ToArray();

        for (var i = 0; i < 200; i++)
        {
            arm.Command(target);
        }

        Assert.Equal(arm.JointLimits.Upper.ToArray(), arm.ReadState());
    }

    [Fact]
    public void Hold_AfterMotion_StateUnchanged()
    {
        var arm = new SimulatedArm(Embodiment.Dobot, 1);
        arm.Command(arm.Profile.Joints.Select(j => j.Home + 0.5f).ToArray());
        var state = arm.ReadState();

        arm.Hold();
        arm.Hold();

        Assert.Equal(state, arm.ReadState());
        Assert.Equal(3, arm.Periods);
    }

    [Fact]
    public void Command_WrongLength_Throws()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);

        var ex = Assert.Throws<ArgumentException>(() => arm.Command(new float[7]));
        Assert.Contains("8 joint targets", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clamp_ValuesOutsideRange_ClampsAndCountsThem()
    {
        var limits = new JointLimits([-1f, 0f], [1f, 0.08f], [2f, 0.1f], [10f, 1f]);
        Span<float> targets = [2f, -0.1f];

        Assert.Equal(2, limits.Clamp(targets));
        Assert.Equal([1f, 0f], targets.ToArray());
        Assert.Equal(0, limits.Clamp(targets));
    }
}
