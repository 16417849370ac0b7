using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Tasks;

namespace A1Fleet.RobotAgent.Tests.Tasks;

public sealed class TabletopTaskTests
{
    private static readonly EmbodimentProfile Franka = EmbodimentProfile.For(Embodiment.Franka);

    private static TabletopEpisodeRunner Runner(EmbodimentProfile profile) =>
        new(profile, TabletopEpisodeRunner.DemonstrationSpec(profile, "tabletop", 48));

    [Theory]
    [InlineData(Embodiment.Franka)]
    [InlineData(Embodiment.Dobot)]
    public void ScriptedExpert_FortySeededEpisodes_SucceedsAtLeast95Percent(Embodiment embodiment)
    {
        var profile = EmbodimentProfile.For(embodiment);
        var runner = Runner(profile);

        var results = Enumerable.Range(1000, 40).Select(seed => runner.Run(seed, new ScriptedExpert(profile))).ToList();

        var failed = results.Where(r => !r.Succeeded).Select(r => $"{r.Seed}: {r.Instruction}").ToList();
        Assert.True(failed.Count <= 2, $"expert failed {failed.Count} of 40: {string.Join("; ", failed)}");
        Assert.Contains(results, r => r.Skill == TabletopSkill.Touch);
        Assert.Contains(results, r => r.Skill == TabletopSkill.PushLeft);
        Assert.Contains(results, r => r.Skill == TabletopSkill.PushRight);
    }

    [Fact]
    public void Labeller_DrivingItself_SucceedsAtLeast95Percent()
    {
        var runner = Runner(Franka);

        var results = Enumerable.Range(1000, 40).Select(seed => runner.Run(seed, ScriptedExpert.Labeller(Franka))).ToList();

        Assert.True(results.Count(r => !r.Succeeded) <= 2, $"labeller failed {results.Count(r => !r.Succeeded)} of 40");
    }

    [Fact]
    public void Run_HeldArmWithLabeller_LabelsStayNearTheTipWhileThePlainExpertRunsAhead()
    {
        var runner = Runner(Franka);
        var arm = Franka.Arms[0];
        float FurthestAhead(ScriptedExpert expert)
        {
            var probe = new TrajectoryProbe(expert);
            var held = new HoldPolicy();
            runner.Run(3, held, probe);
            var (x0, y0, _) = ArmSketch.Tip(Franka, arm, probe.Start);
            return probe.Targets.Max(t =>
            {
                var (x, y, _) = ArmSketch.Tip(Franka, arm, t);
                return MathF.Sqrt(((x - x0) * (x - x0)) + ((y - y0) * (y - y0)));
            });
        }

        var labeller = FurthestAhead(ScriptedExpert.Labeller(Franka));
        var plain = FurthestAhead(new ScriptedExpert(Franka));

        Assert.True(labeller <= ScriptedExpert.LabelMaxLead + (ScriptedExpert.TipSpeed / (float)Franka.ControlHz) + 0.01f, $"labeller ran {labeller} ahead of a held arm");
        Assert.True(plain > 0.1f, $"the plain expert stayed within {plain} of a held arm");
    }

    [Fact]
    public void Run_PolicyThatHolds_FailsEveryEpisode()
    {
        var runner = Runner(Franka);

        var results = Enumerable.Range(0, 10).Select(seed => runner.Run(seed, new HoldPolicy())).ToList();

        Assert.All(results, r => Assert.False(r.Succeeded, r.Instruction));
        Assert.All(results, r => Assert.Equal(runner.MaxSteps, r.Steps));
    }

    [Fact]
    public void Run_SameSceneTwoInstructions_ExpertMovesDifferentlyAndEachSucceeds()
    {
        var runner = Runner(Franka);
        var left = new TrajectoryProbe(new ScriptedExpert(Franka));
        var right = new TrajectoryProbe(new ScriptedExpert(Franka));

        var a = runner.Run(7, left, skill: TabletopSkill.PushLeft, target: 0);
        var b = runner.Run(7, right, skill: TabletopSkill.PushRight, target: 0);

        Assert.True(a.Succeeded && b.Succeeded, $"{a.Instruction}: {a.Succeeded}, {b.Instruction}: {b.Succeeded}");
        Assert.NotEqual(a.Instruction, b.Instruction);
        var yawA = left.Targets[^1][0];
        var yawB = right.Targets[^1][0];
        Assert.True(yawA < yawB - 0.2f, $"pushing left should end further left (yaw {yawA}) than pushing right (yaw {yawB})");
    }

    [Fact]
    public void TabletopWorld_SameSeed_SameBlocksAndInstruction()
    {
        var joints = new SimulatedArm(Franka, 3).ReadState();

        var a = new TabletopWorld(Franka, 3, joints);
        var b = new TabletopWorld(Franka, 3, joints);
        var c = new TabletopWorld(Franka, 4, joints);

        Assert.Equal(a.Blocks.ToArray(), b.Blocks.ToArray());
        Assert.Equal(a.Instruction, b.Instruction);
        Assert.NotEqual(a.Blocks.ToArray(), c.Blocks.ToArray());
    }

    [Fact]
    public void TabletopWorld_BlocksApartAndWithinThePlacementArea()
    {
        var joints = new SimulatedArm(Franka, 3).ReadState();
        for (var seed = 0; seed < 200; seed++)
        {
            var blocks = new TabletopWorld(Franka, seed, joints).Blocks.ToArray();
            Assert.Equal(blocks.Length, blocks.Select(b => b.Colour).Distinct().Count());
            Assert.All(blocks, b => Assert.InRange(b.X, TabletopWorld.MinX, TabletopWorld.MaxX));
            Assert.All(blocks, b => Assert.InRange(b.Y, TabletopWorld.MinY, TabletopWorld.MaxY));
            for (var i = 0; i < blocks.Length; i++)
            {
                for (var j = i + 1; j < blocks.Length; j++)
                {
                    Assert.True(MathF.Max(MathF.Abs(blocks[i].X - blocks[j].X), MathF.Abs(blocks[i].Y - blocks[j].Y)) >= 2 * TabletopWorld.BlockSize, $"seed {seed}");
                }
            }
        }
    }

    [Fact]
    public void Step_ClosedGripperMovesIntoBlock_PushesItAndOpenGripperDoesNot()
    {
        var joints = new SimulatedArm(Franka, 1).ReadState();
        var world = new TabletopWorld(Franka, 1, joints, TabletopSkill.PushRight, target: 0);
        var block = world.TargetBlock;
        var gripper = Franka.Arms[0].GripperJoint;

        // Beside the block on its left, then into it, first open (no contact), then closed.
        Place(joints, block.X - 0.1f, block.Y, open: true);
        world.Step(joints);
        Place(joints, block.X - 0.02f, block.Y, open: true);
        world.Step(joints);
        Assert.Equal(block.X, world.TargetBlock.X);

        Place(joints, block.X - 0.1f, block.Y, open: false);
        world.Step(joints);
        Place(joints, block.X - 0.02f, block.Y, open: false);
        world.Step(joints);
        Assert.True(world.TargetBlock.X > block.X + 0.02f, $"block at {world.TargetBlock.X}, was {block.X}");
        Assert.False(world.Succeeded);
        Assert.True(joints[gripper] == Franka.Joints[gripper].Lower);
    }

    [Fact]
    public void Step_ClosedGripperLoweredOntoNamedBlock_TouchSucceeds()
    {
        var joints = new SimulatedArm(Franka, 2).ReadState();
        var world = new TabletopWorld(Franka, 2, joints, TabletopSkill.Touch, target: 1);
        var block = world.TargetBlock;

        Place(joints, block.X, block.Y, open: true);
        world.Step(joints);
        Assert.False(world.Succeeded);
        Place(joints, block.X, block.Y, open: false);
        world.Step(joints);

        Assert.True(world.Succeeded);
        Assert.Equal(block, world.TargetBlock);
    }

    [Fact]
    public void Solve_ElbowThatBendsThePositiveWay_TipLandsThere()
    {
        // OpenArm's elbow (joint 4) ranges over 0..2.44 rad, where Franka's is negative: the other root of cos.
        var openArm = EmbodimentProfile.For(Embodiment.OpenArm);
        var arm = openArm.Arms[1];
        var joints = openArm.Joints.Select(j => j.Home).ToArray();

        ArmSketch.Solve(openArm, arm, 0.7f, 0.5f, joints);
        var tip = ArmSketch.Tip(openArm, arm, joints);

        Assert.InRange(joints[arm.ElbowJoint], 0f, 2.443461f);
        Assert.Equal(0.7f, tip.X, 3);
        Assert.Equal(0.5f, tip.Y, 3);
    }

    [Theory]
    [InlineData(0.5f, 0.5f)]
    [InlineData(0.3f, 0.35f)]
    [InlineData(0.8f, 0.6f)]
    [InlineData(0.2f, 0.7f)]
    public void Solve_ReachablePoint_TipLandsThere(float x, float y)
    {
        var joints = Franka.Joints.Select(j => j.Home).ToArray();

        ArmSketch.Solve(Franka, Franka.Arms[0], x, y, joints);
        var tip = ArmSketch.Tip(Franka, Franka.Arms[0], joints);

        Assert.Equal(x, tip.X, 3);
        Assert.Equal(y, tip.Y, 3);
    }

    [Fact]
    public void Render_BareTableWithBlock_BlockColourAtItsCentreOnly()
    {
        var arm = new SimulatedArm(Franka, 1);
        var camera = new SimulatedCamera(Franka, [new CameraInfo("front", 48, 48)], seed: 1, withBlocks: false);
        var images = new[] { new byte[48 * 48 * 3] };
        var block = new TableBlock(BlockColour.Blue, 0.25f, 0.4f, 0.1f);

        camera.Render(arm.ReadState(), images, [block]);
        var withBlock = (byte[])images[0].Clone();
        camera.Render(arm.ReadState(), images, []);

        var centre = (((int)(0.4f * 48) * 48) + (int)(0.25f * 48)) * 3;
        Assert.Equal(new byte[] { 40, 80, 200 }, withBlock[centre..(centre + 3)]);
        Assert.NotEqual(new byte[] { 40, 80, 200 }, images[0][centre..(centre + 3)]);
    }

    private static void Place(float[] joints, float x, float y, bool open)
    {
        var arm = Franka.Arms[0];
        for (var j = 0; j < joints.Length; j++)
        {
            joints[j] = Franka.Joints[j].Home;
        }

        ArmSketch.Solve(Franka, arm, x, y, joints);
        joints[arm.GripperJoint] = open ? Franka.Joints[arm.GripperJoint].Upper : Franka.Joints[arm.GripperJoint].Lower;
    }

    private sealed class HoldPolicy : ITabletopPolicy
    {
        private float[] _start = [];

        public void Begin(TabletopWorld world, ReadOnlySpan<float> joints) => _start = joints.ToArray();

        public void Act(in TabletopObservation observation, Span<float> jointTargets) => _start.CopyTo(jointTargets);
    }

    private sealed class TrajectoryProbe(ITabletopPolicy inner) : ITabletopPolicy
    {
        public List<float[]> Targets { get; } = [];

        public float[] Start { get; private set; } = [];

        public void Begin(TabletopWorld world, ReadOnlySpan<float> joints)
        {
            Start = joints.ToArray();
            inner.Begin(world, joints);
        }

        public void Act(in TabletopObservation observation, Span<float> jointTargets)
        {
            inner.Act(observation, jointTargets);
            Targets.Add(jointTargets.ToArray());
        }
    }
}
