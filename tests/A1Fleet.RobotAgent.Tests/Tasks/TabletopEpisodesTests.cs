using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Tasks;
using A1Fleet.RobotAgent.Tests.Control;
using A1Fleet.RobotAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.RobotAgent.Tests.Tasks;

public sealed class TabletopEpisodesTests
{
    private static readonly EmbodimentProfile Franka = EmbodimentProfile.For(Embodiment.Franka);
    private static readonly CameraInfo[] Front = [new("front", 64, 64)];

    [Theory]
    [InlineData("touch the red block", TabletopSkill.Touch, BlockColour.Red)]
    [InlineData("  Push the Blue block to the left ", TabletopSkill.PushLeft, BlockColour.Blue)]
    [InlineData("push the purple block to the right", TabletopSkill.PushRight, BlockColour.Purple)]
    public void TryParse_FamilyInstruction_SkillAndColour(string instruction, TabletopSkill skill, BlockColour colour)
    {
        Assert.True(TabletopEpisodes.TryParse(instruction, out var parsedSkill, out var parsedColour));
        Assert.Equal((skill, colour), (parsedSkill, parsedColour));
    }

    [Theory]
    [InlineData("put the cup on the coaster")]
    [InlineData("touch the black block")]
    [InlineData("push the red block to the top")]
    public void TryParse_OtherInstruction_False(string instruction) => Assert.False(TabletopEpisodes.TryParse(instruction, out _, out _));

    [Fact]
    public void AfterPeriod_ExpertDrivesTheArm_TheWorldDecidesEachOutcome()
    {
        var rig = new Rig();
        var outcomes = rig.Outcomes;
        var worlds = new List<TabletopWorld>();
        var expert = new ScriptedExpert(Franka);
        Assert.True(rig.Episodes.AfterPeriod("touch the red block", running: true), "the first period of a family task begins an episode");
        for (var period = 0; period < 5000 && outcomes.Count < 6; period++)
        {
            var world = rig.Episodes.World!;
            if (worlds.Count == 0 || !ReferenceEquals(worlds[^1], world))
            {
                worlds.Add(world);
                expert = new ScriptedExpert(Franka);
                expert.Begin(world, rig.Arm.ReadState());
            }

            rig.Move(expert);
            rig.Episodes.AfterPeriod("touch the red block", running: true);
        }

        Assert.Equal(6, outcomes.Count);
        for (var i = 0; i < outcomes.Count; i++)
        {
            // Each outcome is its world's decision, on the scene of its own seed with the named block as the target.
            Assert.Equal(worlds[i].Seed, outcomes[i].Seed);
            Assert.Equal(worlds[i].Succeeded, outcomes[i].Succeeded);
            Assert.Equal(BlockColour.Red, worlds[i].TargetBlock.Colour);
            Assert.Equal(TabletopSkill.Touch, worlds[i].Skill);
            Assert.Equal("touch the red block", outcomes[i].Instruction);
            Assert.Equal(i + 1, outcomes[i].Episode);
            Assert.True(outcomes[i].Seed >= TabletopEpisodes.FirstSeed, $"seed {outcomes[i].Seed} is among the training seeds");
        }

        Assert.Equal(outcomes.Count, outcomes.Select(o => o.Seed).Distinct().Count());
        Assert.True(outcomes.Count(o => o.Succeeded) >= 5, $"the expert succeeded in {outcomes.Count(o => o.Succeeded)} of 6");
        Assert.All(outcomes.Where(o => o.Succeeded), o => Assert.True(o.Steps < rig.Episodes.MaxSteps, $"a success ends its episode at once ({o.Steps} periods)"));
    }

    [Fact]
    public void AfterPeriod_ArmThatHolds_EveryEpisodeFailsAtTheTimeLimit()
    {
        var rig = new Rig(episodeSeconds: 0.5);
        rig.Episodes.AfterPeriod("push the green block to the left", running: true);

        for (var period = 0; period < 3 * rig.Episodes.MaxSteps; period++)
        {
            rig.Arm.Hold();
            rig.Episodes.AfterPeriod("push the green block to the left", running: true);
        }

        Assert.Equal(10, rig.Episodes.MaxSteps);
        Assert.Equal(3, rig.Outcomes.Count);
        Assert.All(rig.Outcomes, o => Assert.False(o.Succeeded));
        Assert.All(rig.Outcomes, o => Assert.Equal(10, o.Steps));
    }

    [Fact]
    public void AfterPeriod_NewEpisode_ArmSceneAndCameraAsTheEpisodeRunnerSetsUpThatSeed()
    {
        var rig = new Rig();
        Assert.True(rig.Episodes.AfterPeriod("push the blue block to the right", running: true));
        var world = rig.Episodes.World!;

        // The bench's TabletopEpisodeRunner: a new arm of the seed, the world of the seed, a bare-table camera of the seed.
        var arm = new SimulatedArm(Franka, world.Seed);
        var expected = new TabletopWorld(Franka, world.Seed, arm.ReadState(), TabletopSkill.PushRight, world.Target);
        Assert.Equal(arm.ReadState(), rig.Arm.ReadState());
        Assert.Equal(expected.Blocks.ToArray(), world.Blocks.ToArray());
        Assert.Equal("push the blue block to the right", world.Instruction);
        var image = new byte[64 * 64 * 3];
        new SimulatedCamera(Franka, Front, world.Seed, withBlocks: false).Render(arm.ReadState(), [image], expected.Blocks);
        Assert.Equal(image, rig.Camera.Capture(rig.Arm.ReadState())[0]);
    }

    [Fact]
    public void AfterPeriod_NotRunningOrNoTask_TheEpisodeWaits()
    {
        var rig = new Rig(episodeSeconds: 0.5);
        rig.Episodes.AfterPeriod("touch the green block", running: true);
        var world = rig.Episodes.World;
        rig.Episodes.AfterPeriod("touch the green block", running: true);

        for (var period = 0; period < 50; period++)
        {
            rig.Arm.Hold();
            Assert.False(rig.Episodes.AfterPeriod("touch the green block", running: false));
            Assert.False(rig.Episodes.AfterPeriod(null, running: true));
        }

        Assert.Empty(rig.Outcomes);
        Assert.Same(world, rig.Episodes.World);
        Assert.Equal(1, rig.Episodes.Steps);
    }

    [Fact]
    public void AfterPeriod_TaskChanges_EpisodeEndsWithoutOutcomeAndOutsideTheFamilyNoneBegins()
    {
        var rig = new Rig();
        rig.Episodes.AfterPeriod("touch the green block", running: true);
        var first = rig.Episodes.World!;

        Assert.True(rig.Episodes.AfterPeriod("touch the yellow block", running: true), "a new family task begins a new episode");
        Assert.NotSame(first, rig.Episodes.World);
        Assert.Equal(BlockColour.Yellow, rig.Episodes.World!.TargetBlock.Colour);

        Assert.False(rig.Episodes.AfterPeriod("open the drawer", running: true));
        Assert.Null(rig.Episodes.World);
        Assert.Equal(0, rig.Episodes.Blocks.Length);
        for (var period = 0; period < 2 * rig.Episodes.MaxSteps; period++)
        {
            rig.Arm.Hold();
            Assert.False(rig.Episodes.AfterPeriod("open the drawer", running: true));
        }

        Assert.Empty(rig.Outcomes);
    }

    [Fact]
    public async Task ControlLoop_WithEpisodes_ResetsTheArmTakesUpWithinLimitsAndAsksFromTheNewPose()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var model = TestModels.Spec(cameras: Front);
        var arm = new SimulatedArm(Franka, seed: 7);
        var camera = new SimulatedCamera(Franka, model.Cameras, seed: 7, withBlocks: false);
        var metrics = new AgentMetrics(Embodiment.Franka);
        var outcomes = new List<TabletopEpisodeOutcome>();
        var episodes = new TabletopEpisodes(arm, camera, seed: 7, episodeSeconds: 1, o =>
        {
            outcomes.Add(o);
            metrics.OnEpisode(o.Succeeded);
        });
        // A "policy" that swings the base joint 1.2 rad away from home: far from every episode's start pose when it resets.
        var away = Franka.Joints.Select(j => j.Home).ToArray();
        away[0] += 1.2f;
        var task = new RobotTask("touch the red block", time.GetUtcNow(), "test", 1);
        var source = new SimulatedLatencySource(time, time.GetUtcNow(), arm.ControlHz)
        {
            Respond = (_, _, _) => ChunkResult.Chunk([.. Enumerable.Range(0, 10).SelectMany(_ => away)], 10, 8, task, taskVersion: task.Version),
        };
        var commands = new RobotCommandInbox();
        commands.Post(new RobotCommand(RobotCommandKind.TaskChanged, task, 200, 0));
        var loop = new ControlLoop(arm, camera, new ModelAdapter(arm.JointCount, model), model, source, commands, new ControlLoopOptions(), metrics, time,
            NullLogger.Instance, world: episodes);
        using var stop = new CancellationTokenSource();
        Task run = Task.CompletedTask;
        var seeds = new List<int>();
        var farthest = 0f;
        LoopHarness.OutsideTestContext(() => run = loop.RunAsync(stop.Token));
        for (var period = 0; period < 90; period++)
        {
            if (episodes.World is { } world && (seeds.Count == 0 || seeds[^1] != world.Seed))
            {
                seeds.Add(world.Seed);
            }

            LoopHarness.OutsideTestContext(() => time.Advance(loop.Period));
            farthest = Math.Max(farthest, Math.Abs(arm.ReadState()[0] - Franka.Joints[0].Home));
        }

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        // 90 periods of 20-period episodes (the swing touches nothing): four ended, each counted once, and the arm had
        // swung far from the start poses it was reset to; the loop took up from each reset pose within the limits.
        Assert.Equal(4, outcomes.Count);
        Assert.Equal(outcomes.Count, metrics.Episodes);
        Assert.Equal(outcomes.Count(o => o.Succeeded), metrics.Successes);
        Assert.Equal(outcomes.Select(o => o.Seed), seeds.Take(outcomes.Count));
        Assert.True(farthest > 0.5f, $"the arm swung only {farthest} rad away from home");
        Assert.Equal(0, arm.LimitViolations);

        // Each episode's first request shows the arm where its seed starts it: the plan of the old scene was dropped.
        var adapter = new ModelAdapter(arm.JointCount, model);
        foreach (var seed in seeds)
        {
            var start = adapter.CreateState(new SimulatedArm(Franka, seed).ReadState());
            Assert.Contains(source.Observations, o => o.State.SequenceEqual(start));
        }
    }

    /// <summary>A simulated Franka, its camera and its episodes; <see cref="Move"/> runs one period of a policy through the motion limiter.</summary>
    private sealed class Rig
    {
        private readonly MotionLimiter _limiter = new(Franka.Limits, Franka.ControlHz);
        private readonly float[] _targets = new float[Franka.JointCount];
        private readonly float[] _command = new float[Franka.JointCount];
        private int _seenSeed = -1;

        public Rig(double episodeSeconds = 8)
        {
            Arm = new SimulatedArm(Franka, seed: 11);
            Camera = new SimulatedCamera(Franka, Front, seed: 11, withBlocks: false);
            Episodes = new TabletopEpisodes(Arm, Camera, seed: 11, episodeSeconds, Outcomes.Add);
        }

        public SimulatedArm Arm { get; }

        public SimulatedCamera Camera { get; }

        public TabletopEpisodes Episodes { get; }

        public List<TabletopEpisodeOutcome> Outcomes { get; } = [];

        public void Move(ITabletopPolicy policy)
        {
            var joints = Arm.ReadState();
            if (Episodes.World!.Seed != _seenSeed)
            {
                // The arm was placed at the episode's start: the limiter takes up from there, as the control loop does.
                _seenSeed = Episodes.World.Seed;
                _limiter.Reset(joints);
            }

            policy.Act(new TabletopObservation(joints, joints, [], Episodes.World.Instruction, Episodes.Steps), _targets);
            _limiter.Step(_targets, _command);
            Arm.Command(_command);
        }
    }
}
