using A1Fleet.Grains;
using A1Fleet.Motion;
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

    [Fact]
    public void Command_ShortenedPeriod_LimitsCheckedOverThatInterval()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);
        var joint = arm.Profile.Joints[0];
        var dt = 1 / arm.ControlHz;
        var quarter = TimeSpan.FromSeconds(dt / 4);

        // From rest, half the acceleration limit over a quarter period: within every limit over that interval.
        var gentle = arm.ReadState();
        gentle[0] += (float)(0.5 * joint.MaxAcceleration * (dt / 4) * (dt / 4));
        arm.Command(gentle, quarter);
        Assert.Equal(0, arm.LimitViolations);

        // Half a period's top-speed step in a quarter period is twice the top speed: counted, though over a whole
        // period the same step would be within the velocity limit.
        var fast = arm.ReadState();
        fast[0] = gentle[0] + (float)(0.5 * joint.MaxVelocity * dt);
        arm.Command(fast, quarter);
        Assert.Equal(1, arm.LimitViolations);
        Assert.Throws<ArgumentOutOfRangeException>(() => arm.Command(fast, TimeSpan.Zero));
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

    [Fact]
    public void Command_StepBeyondTopSpeedFromRest_CountsVelocityAndAccelerationViolations()
    {
        var reported = new List<DriverLimit>();
        var arm = new SimulatedArm(EmbodimentProfile.For(Embodiment.Franka), seed: 1, reported.Add);
        var target = arm.ReadState();
        target[0] += 2 * EmbodimentProfile.For(Embodiment.Franka).Joints[0].MaxVelocity / (float)arm.ControlHz;

        arm.Command(target);

        Assert.Equal(1, arm.LimitViolations);
        Assert.Equal([DriverLimit.Velocity, DriverLimit.Acceleration], reported);
    }

    [Fact]
    public void Command_RampWithinTheLimitsWithHolds_CountsNothing()
    {
        var reported = new List<DriverLimit>();
        var arm = new SimulatedArm(EmbodimentProfile.For(Embodiment.Franka), seed: 1, reported.Add);
        var joint = EmbodimentProfile.For(Embodiment.Franka).Joints[0];
        var dt = 1 / arm.ControlHz;
        var target = arm.ReadState();
        var velocity = 0.0;

        // Half the joint's acceleration up to half its top speed, then half the acceleration down to rest, then hold.
        for (var tick = 0; tick < 40; tick++)
        {
            velocity = tick < 20 ? Math.Min(velocity + (0.5 * joint.MaxAcceleration * dt), 0.5 * joint.MaxVelocity) : Math.Max(velocity - (0.5 * joint.MaxAcceleration * dt), 0);
            target[0] += (float)(velocity * dt);
            arm.Command(target);
        }

        arm.Hold();
        arm.Command(target);

        Assert.Equal(0, arm.LimitViolations);
        Assert.Empty(reported);
    }

    [Fact]
    public void Command_TargetOutsideTheRangeOrNotFinite_CountsPositionViolations()
    {
        var reported = new List<DriverLimit>();
        var arm = new SimulatedArm(EmbodimentProfile.For(Embodiment.Franka), seed: 1, reported.Add);
        var beyond = arm.ReadState();
        beyond[3] = EmbodimentProfile.For(Embodiment.Franka).Joints[3].Upper + 0.5f;
        var notFinite = arm.ReadState();
        notFinite[1] = float.NaN;

        arm.Command(beyond);
        arm.Command(notFinite);

        Assert.Equal(2, arm.LimitViolations);
        Assert.Equal(2, reported.Count(r => r == DriverLimit.Position));
    }
}
