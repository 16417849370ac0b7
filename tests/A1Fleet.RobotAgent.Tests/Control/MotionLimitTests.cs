using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>What the driver receives stays within every joint's velocity, acceleration and position limits, whatever the chunks ask.</summary>
public sealed class MotionLimitTests
{
    private const int Chunk = 10;

    [Theory]
    [InlineData(Embodiment.Franka, 1)]
    [InlineData(Embodiment.Franka, 2)]
    [InlineData(Embodiment.Franka, 3)]
    [InlineData(Embodiment.AgiBot, 4)]
    [InlineData(Embodiment.OpenArm, 5)]
    [InlineData(Embodiment.Dobot, 6)]
    public void RunAsync_RandomChunksJumpsEStopsAndResumes_DriverCommandsNeverExceedAnyLimit(Embodiment embodiment, int seed)
    {
        using var h = new LoopHarness(embodiment: embodiment);
        var random = new Random(seed);
        var maxPlanJump = 0f;
        float[]? previousChunkEnd = null;
        h.Source.Latency = TimeSpan.FromMilliseconds(random.Next(0, 200));
        var generation = 0L;
        h.Source.Respond = (_, tick, _) =>
        {
            // Half the chunks are noise over ±3 rad (4-6 rad between consecutive actions, like the random-weight
            // models), the rest a smooth motion around a random pose that starts far from the last chunk.
            var actions = new float[Chunk * 8];
            var smooth = random.NextDouble() < 0.5;
            var pose = Enumerable.Range(0, 8).Select(_ => (float)((random.NextDouble() * 6) - 3)).ToArray();
            for (var k = 0; k < Chunk; k++)
            {
                for (var d = 0; d < 8; d++)
                {
                    actions[(k * 8) + d] = smooth ? pose[d] + (0.05f * k) : (float)((random.NextDouble() * 6) - 3);
                }
            }

            for (var k = 1; k < Chunk; k++)
            {
                for (var d = 0; d < 7; d++)
                {
                    maxPlanJump = Math.Max(maxPlanJump, Math.Abs(actions[(k * 8) + d] - actions[((k - 1) * 8) + d]));
                }
            }

            if (previousChunkEnd is not null)
            {
                maxPlanJump = Math.Max(maxPlanJump, Math.Abs(actions[0] - previousChunkEnd[0]));
            }

            previousChunkEnd = actions[((Chunk - 1) * 8)..];
            return ChunkResult.Chunk(actions, Chunk, 8, eStopGeneration: generation);
        };

        h.Start();
        var between = new Random(seed + 100);
        var eStops = 0;
        var localStops = 0;
        for (var second = 0; second < 60; second++)
        {
            // Within each second: run, then maybe an e-stop or a local stop somewhere mid-motion (between two ticks, so the
            // controlled stop starts with a shortened step), then resume.
            h.Step(random.Next(1, 15));
            var stop = random.Next(4);
            if (stop < 2)
            {
                h.Advance(h.Loop.Period * between.NextDouble());
            }

            switch (stop)
            {
                case 0:
                    h.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, ++generation));
                    eStops++;
                    h.Step(random.Next(1, 5));
                    h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0, generation));
                    break;
                case 1:
                    LoopHarness.OutsideTestContext(() => h.LocalStop.Engage("test"));
                    localStops++;
                    h.Step(random.Next(1, 5));
                    h.LocalStop.Release();
                    break;
                default:
                    break;
            }

            h.Step(random.Next(1, 15));
        }

        Assert.True(maxPlanJump > 4, $"the chunks should jump 4-6 rad; the largest jump was {maxPlanJump}");
        Assert.True(eStops > 5 && localStops > 5, $"{eStops} e-stops, {localStops} local stops");
        Assert.True(h.ExecutedTicks > 300, $"{h.ExecutedTicks} executed ticks");
        Assert.Contains(h.Arm.Intervals, i => i < h.Loop.Period);
        AssertWithinLimits(h.Arm.Arm.Profile, h.InitialState, h.Arm.Commands, h.Arm.Intervals);
        Assert.Equal(0, h.Arm.Arm.LimitViolations);
        Assert.True(h.Metrics.SlowedTicks > 50 && h.Metrics.RampedTicks > 50, $"slowed {h.Metrics.SlowedTicks}, ramped {h.Metrics.RampedTicks}");
    }

    [Fact]
    public void Step_TargetWithinOnePeriodsReach_CommandedExactly()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        // 0.2 rad/s from rest (4 rad/s²) on the arm, 0.02 m/s on the hand: within every joint's limits.
        var target = start.Select((v, j) => v + (j == 7 ? 0.001f : 0.01f)).ToArray();
        var command = new float[start.Length];

        Assert.False(limiter.Step(target, command));

        Assert.Equal(target, command);
    }

    [Fact]
    public void Step_FarTarget_RampsUpCruisesAndBrakesOntoItWithoutOvershoot()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        var target = (float[])start.Clone();
        target[0] = 2.5f; // 2.5 rad away: a step would be 50 rad/s
        var command = new float[start.Length];
        var commands = new List<float[]>();
        for (var tick = 0; tick < 60 && (commands.Count == 0 || commands[^1][0] != target[0]); tick++)
        {
            limiter.Step(target, command);
            commands.Add((float[])command.Clone());
        }

        Assert.Equal(target[0], commands[^1][0]);
        Assert.All(commands.Zip(commands.Skip(1)), pair => Assert.True(pair.Second[0] >= pair.First[0], "joint 1 moved backwards: overshoot"));
        Assert.All(commands, c => Assert.True(c[0] <= target[0]));

        // 2.5 rad at 2.175 rad/s and 15 rad/s²: ~1.3 s, so ~26 ticks, not one.
        Assert.InRange(commands.Count, 22, 40);
        // Arrived slowly enough for a hold on the next tick to be within the limits too.
        AssertWithinLimits(profile, start, [.. commands, null, null]);
    }

    [Fact]
    public void Stop_AtFullSpeed_DeceleratesAtTheLimitThenRests()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        var target = (float[])start.Clone();
        target[1] = -1.7f; // joint 2: 0.9 rad away at 7.5 rad/s², the Panda's slowest to brake
        var command = new float[start.Length];
        var commands = new List<float[]?>();
        for (var tick = 0; tick < 6; tick++)
        {
            limiter.Step(target, command);
            commands.Add((float[])command.Clone());
        }

        var stopTicks = 0;
        while (!limiter.Stop(command))
        {
            commands.Add((float[])command.Clone());
            stopTicks++;
            Assert.True(stopTicks < 20, "the stop did not end");
        }

        commands.Add((float[])command.Clone());
        Assert.True(limiter.AtRest);

        // Joint 2 reached 6 x 0.375 = 2.175 rad/s (its speed limit) and sheds 0.375 rad/s per tick: 5-6 ticks, not 0.
        Assert.InRange(stopTicks, 4, 6);
        AssertWithinLimits(profile, start, [.. commands, null, null]);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Stop_StartedPartWayThroughAPeriodAtFullSpeed_FirstStepWithinTheLimitsOverThatPart(double share)
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        var target = (float[])start.Clone();
        target[1] = -1.7f;
        var command = new float[start.Length];
        var commands = new List<float[]?>();
        var dt = TimeSpan.FromSeconds(1 / profile.ControlHz);
        var intervals = new List<TimeSpan>();
        for (var tick = 0; tick < 6; tick++)
        {
            limiter.Step(target, command);
            commands.Add((float[])command.Clone());
            intervals.Add(dt);
        }

        var before = commands[^1]![1] - commands[^2]![1];
        Assert.True(limiter.CanStopWithin(dt.TotalSeconds * share));
        limiter.Stop(command, dt.TotalSeconds * share);
        commands.Add((float[])command.Clone());
        intervals.Add(dt * share);
        while (!limiter.Stop(command))
        {
            commands.Add((float[])command.Clone());
            intervals.Add(dt);
            Assert.True(commands.Count < 40, "the stop did not end");
        }

        // The part-period step moved joint 2 by about its speed times that part, a little less (it already brakes).
        var first = commands[6]![1] - commands[5]![1];
        Assert.InRange(first / (before * share), 0.8, 1.0);
        AssertWithinLimits(profile, start, [.. commands, null], [.. intervals, dt]);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Stop(command, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Stop(command, dt.TotalSeconds * 1.5));
    }

    [Fact]
    public void CanStopWithin_JointArrivingAtItsRangeEndAtSpeed_FalseForPartOfAPeriodTrueForAWholeOne()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        var target = (float[])start.Clone();
        target[5] = profile.Limits.Upper[5];
        var command = new float[start.Length];
        var dt = 1 / profile.ControlHz;
        var ticks = 0;
        do
        {
            limiter.Step(target, command);
            Assert.True(++ticks < 100, "never arrived");
        }
        while (command[5] != target[5]);

        // Arrived at the end still moving (the next whole period was to brake it): less than a period cannot.
        Assert.False(limiter.AtRest);
        Assert.False(limiter.CanStopWithin(dt / 10));
        Assert.True(limiter.CanStopWithin(dt));
    }

    [Fact]
    public void Step_FastTowardsTheEndOfTheRange_StopsInsideIt()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new MotionLimiter(profile.Limits, profile.ControlHz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        limiter.Reset(start);
        var command = new float[start.Length];
        var commands = new List<float[]?>();

        // Targets beyond the range are the caller's bug; the limiter still never leaves the range nor steps to it.
        var target = (float[])start.Clone();
        target[5] = 10f;
        for (var tick = 0; tick < 60; tick++)
        {
            limiter.Step(target, command);
            commands.Add((float[])command.Clone());
        }

        Assert.Equal(profile.Limits.Upper[5], commands[^1]![5]);
        AssertWithinLimits(profile, start, [.. commands, null, null]);
    }

    /// <summary>
    /// The driver's command sequence, read the way the arm sees it: a hold keeps the last commanded position, and the
    /// sequence starts at rest from <paramref name="start"/>. Velocity and acceleration are finite differences, over
    /// one period each or over <paramref name="intervals"/> (a stop started between ticks shortens one).
    /// </summary>
    internal static void AssertWithinLimits(EmbodimentProfile profile, float[] start, IReadOnlyList<float[]?> commands, IReadOnlyList<TimeSpan>? intervals = null)
    {
        var joints = profile.JointCount;
        var position = (float[])start.Clone();
        var velocity = new double[joints];
        for (var k = 0; k < commands.Count; k++)
        {
            var dt = intervals is null ? 1 / profile.ControlHz : intervals[k].TotalSeconds;
            var next = commands[k] ?? position;
            for (var j = 0; j < joints; j++)
            {
                var spec = profile.Joints[j];
                var v = ((double)next[j] - position[j]) / dt;
                var a = (v - velocity[j]) / dt;
                Assert.True(next[j] >= spec.Lower && next[j] <= spec.Upper, $"tick {k}, {spec.Name}: {next[j]} outside [{spec.Lower}, {spec.Upper}]");
                Assert.True(Math.Abs(v) <= (spec.MaxVelocity * 1.0001) + 1e-4, $"tick {k}, {spec.Name}: {v} units/s over the limit {spec.MaxVelocity}");
                Assert.True(Math.Abs(a) <= (spec.MaxAcceleration * 1.001) + 1e-2, $"tick {k}, {spec.Name}: {a} units/s² over the limit {spec.MaxAcceleration} (dt {dt}, before {(k > 0 && intervals is not null ? intervals[k - 1].TotalSeconds : 0)}, {string.Join(" ", Enumerable.Range(Math.Max(0, k - 3), 5).Where(i => i < commands.Count).Select(i => commands[i] is null ? "hold" : commands[i]![j].ToString("F5")))})");
                velocity[j] = v;
            }

            position = next;
        }
    }
}
