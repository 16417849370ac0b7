using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;

namespace A1Fleet.RobotAgent.Tests.Control;

public sealed class ControlLoopTests
{
    // Franka at 20 Hz, chunks of 10 steps, RequestAheadShare 0.5: the next request goes out with 5 steps (250 ms) left.
    private const int Chunk = 10;

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(120)]
    [InlineData(220)]
    public void RunAsync_LatencyWithinRequestAheadWindow_NoIdleGaps(int latencyMs)
    {
        using var h = new LoopHarness();
        h.Source.Latency = TimeSpan.FromMilliseconds(latencyMs);

        h.Start().Step(200);

        Assert.Equal(0, h.Metrics.IdleGaps);
        Assert.Equal(0, h.Metrics.StaleChunks);
        // Only the ticks before the first chunk arrived hold; after that every tick executes an action.
        Assert.True(h.Metrics.HoldTicks <= 1 + (latencyMs / 50), $"{h.Metrics.HoldTicks} hold ticks");
        Assert.True(h.Metrics.ChunksExecuted >= 200 / Chunk, $"{h.Metrics.ChunksExecuted} chunks");
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
    }

    [Fact]
    public void RunAsync_LatencyBeyondRequestAheadWindow_CountsIdleGaps()
    {
        using var h = new LoopHarness();
        h.Source.Latency = TimeSpan.FromMilliseconds(380); // 7.6 periods, the window is 5

        h.Start().Step(200);

        Assert.True(h.Metrics.IdleGaps > 5, $"{h.Metrics.IdleGaps} idle gaps");
        Assert.True(h.Metrics.IdleGapTicks >= 2 * h.Metrics.IdleGaps, $"{h.Metrics.IdleGapTicks} gap ticks for {h.Metrics.IdleGaps} gaps");
        Assert.True(h.Metrics.LongestIdleGapTicks >= 2);
        Assert.Equal(0, h.Metrics.StaleChunks);
        Assert.True(h.Metrics.ChunksExecuted > 0);
    }

    [Fact]
    public void RunAsync_LargerRequestAheadShare_ClosesTheGapsOfTheSameLatency()
    {
        using var narrow = new LoopHarness(new ControlLoopOptions { RequestAheadShare = 0.3 });
        using var wide = new LoopHarness(new ControlLoopOptions { RequestAheadShare = 0.6 });
        narrow.Source.Latency = wide.Source.Latency = TimeSpan.FromMilliseconds(220); // 4.4 periods: more than 3 steps ahead, less than 6

        narrow.Start().Step(200);
        wide.Start().Step(200);

        Assert.True(narrow.Metrics.IdleGaps > 0);
        Assert.Equal(0, wide.Metrics.IdleGaps);
    }

    [Fact]
    public void RunAsync_ChunkArrivesLate_SkipsTheActionsWhoseTicksPassed()
    {
        // 8 steps ahead: the old chunk still covers the whole blend window when the answer lands 3 ticks late.
        using var h = new LoopHarness(new ControlLoopOptions { RequestAheadShare = 0.8 });
        h.Source.Latency = TimeSpan.FromMilliseconds(170);

        h.Start().Step(120);

        // Every chunk follows the same reference, so with the right skip each tick commands ref(tick) exactly
        // once the arm has ramped, within its limits, from rest onto the moving reference (well within 30 ticks).
        var commands = h.Arm.Commands;
        var first = commands.FindIndex(c => c is not null);
        Assert.True(first > 0);
        var onTrack = Enumerable.Range(first, commands.Count - first)
            .First(t => commands[t] is { } c && Enumerable.Range(0, 8).All(d => Math.Abs(c[d] - ReferenceMotion.At(t, d, 20)) < 1e-4));
        Assert.InRange(onTrack - first, 3, 30);
        Assert.True(h.Metrics.RampedTicks > 0);
        // Only the first chunk's 3 blend steps from rest ask for more acceleration than the Panda has; the reference never does.
        Assert.InRange(h.Metrics.SlowedTicks, 0, 3);
        for (var tick = onTrack; tick < commands.Count; tick++)
        {
            var command = commands[tick];
            Assert.NotNull(command);
            for (var d = 0; d < 8; d++)
            {
                Assert.Equal(ReferenceMotion.At(tick, d, 20), command[d], 4);
            }
        }

        Assert.True(h.Metrics.Splices > 10);
    }

    [Fact]
    public void RunAsync_Blending_SpliceJumpSmallerThanWithout()
    {
        using var blended = new LoopHarness(new ControlLoopOptions { BlendSteps = 3 });
        using var switched = new LoopHarness(new ControlLoopOptions { BlendSteps = 0 });
        foreach (var h in new[] { blended, switched })
        {
            // Each chunk is off the reference by ±0.05 rad, alternating: the model's noise between chunks.
            h.Source.Respond = (_, tick, n) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20, n % 2 == 0 ? 0.05f : -0.05f), Chunk, 8);
            h.Start().Step(200);
        }

        Assert.True(blended.Metrics.Splices > 20 && switched.Metrics.Splices > 20);
        Assert.True(switched.Metrics.MeanSpliceJump > 0.09, $"without blending: mean jump {switched.Metrics.MeanSpliceJump}");
        Assert.True(blended.Metrics.MeanSpliceJump < 0.5 * switched.Metrics.MeanSpliceJump,
            $"blended mean {blended.Metrics.MeanSpliceJump} vs switched {switched.Metrics.MeanSpliceJump}");
        Assert.True(blended.Metrics.MaxSpliceJump < switched.Metrics.MaxSpliceJump,
            $"blended max {blended.Metrics.MaxSpliceJump} vs switched {switched.Metrics.MaxSpliceJump}");
    }

    [Fact]
    public void RunAsync_ActionsOutsideJointLimits_ClampedAndCounted()
    {
        using var h = new LoopHarness();
        h.Source.Respond = (_, tick, _) =>
        {
            var actions = ReferenceMotion.Chunk(tick, Chunk, 20);
            for (var k = 0; k < Chunk; k++)
            {
                actions[k * 8] = 3.5f;       // joint 1 beyond +2.8973 rad
                actions[(k * 8) + 7] = -0.2f; // gripper below 0 m
            }

            return ChunkResult.Chunk(actions, Chunk, 8);
        };

        h.Start().Step(100);

        Assert.True(h.ExecutedTicks > 80);

        // Two values per executed step, except joint 1 in the 3 steps that blend in from rest (0.9, 1.8, 2.6 rad: within limits).
        Assert.Equal((2 * h.ExecutedTicks) - 3, h.Metrics.ClampedActions);

        // The clamped targets are reached by a ramp within the limits (2.9 rad at 2.175 rad/s: under 2 s), then held exactly.
        var limits = h.Arm.JointLimits;
        var executed = h.Arm.Commands.OfType<float[]>().ToList();
        Assert.All(executed, c => Assert.True(c[0] <= limits.Upper[0] && c[7] >= limits.Lower[7], $"{c[0]} {c[7]}"));
        Assert.All(executed.Skip(45), c => Assert.Equal(limits.Upper[0], c[0]));
        Assert.All(executed.Skip(45), c => Assert.Equal(limits.Lower[7], c[7]));
        Assert.True(h.Metrics.RampedTicks >= 20, $"{h.Metrics.RampedTicks} ramped ticks");
        Assert.InRange(h.Metrics.MaxCommandStep, 0.01, (2.175 / 20) + 1e-6);

        var state = h.Arm.ReadState();
        Assert.All(Enumerable.Range(0, state.Length), j => Assert.True(limits.Contains(j, state[j])));
    }

    [Fact]
    public void Post_EStop_ControlledStopFromTheNextTickThenHolds()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
        var holdsBefore = h.Metrics.HoldTicks;
        var commandsBefore = h.Arm.Commands.Count;
        var last = h.Arm.Commands[^1]!;
        var previous = h.Arm.Commands[^2]!;

        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0));
        h.Step(1);

        Assert.True(h.Loop.EStopped);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
        Assert.Equal(holdsBefore + 1, h.Metrics.HoldTicks);

        // From the next tick on, no joint speeds up: each one decelerates at its limit (the reference moves at most
        // ~0.94 rad/s, the Panda brakes 7.5..20 rad/s², so 3 ticks at most), then the driver holds.
        h.Step(40);
        var after = h.Arm.Commands.Skip(commandsBefore).ToList();
        var stopping = after.TakeWhile(c => c is not null).OfType<float[]>().ToList();
        Assert.InRange(stopping.Count, 0, 3);
        Assert.All(after.Skip(stopping.Count), Assert.Null);
        var speed = Enumerable.Range(0, 8).Select(j => Math.Abs(last[j] - previous[j])).ToArray();
        foreach (var command in stopping)
        {
            var step = Enumerable.Range(0, 8).Select(j => Math.Abs(command[j] - last[j])).ToArray();
            Assert.All(Enumerable.Range(0, 8), j => Assert.True(step[j] <= speed[j] + 1e-6, $"joint {j} sped up: {step[j]} after {speed[j]}"));
            (speed, last) = (step, command);
        }

        var held = h.Arm.ReadState();
        h.Step(40);
        Assert.Equal(held, h.Arm.ReadState());
        Assert.Equal(holdsBefore + 81, h.Metrics.HoldTicks);
    }

    [Fact]
    public void Post_EStopBetweenTicks_ControlledStopStartsAtOnceAndTheTicksFollowOnePeriodFromIt()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
        var ticks = h.Loop.Ticks;
        var commands = h.Arm.Commands.Count;
        var last = h.Arm.Commands[^1]!;
        var previous = h.Arm.Commands[^2]!;
        var between = h.Loop.Period * 0.4;
        h.Advance(between);
        Assert.Equal(ticks, h.Loop.Ticks);

        h.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 1));

        // Before any more time passes: latched, and the first step of the controlled stop is with the driver, sent for
        // the 40 % of a period since the last command.
        Assert.True(h.Loop.EStopped);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
        Assert.Equal(h.Time.GetUtcNow(), h.Loop.EStopLatchedAt);
        Assert.Equal(ticks + 1, h.Loop.Ticks);
        Assert.Equal(commands + 1, h.Arm.Commands.Count);
        Assert.Equal(between, h.Arm.Intervals[^1]);
        var first = h.Arm.Commands[^1];
        Assert.NotNull(first);

        // Over those 40 %, no joint sped up: each moved at most its previous speed times the shorter interval.
        var seconds = between.TotalSeconds;
        var dt = h.Loop.Period.TotalSeconds;
        Assert.All(Enumerable.Range(0, 8), j => Assert.True(Math.Abs(first[j] - last[j]) / seconds <= (Math.Abs(last[j] - previous[j]) / dt) + 1e-6,
            $"joint {j}: {Math.Abs(first[j] - last[j]) / seconds} rad/s after {Math.Abs(last[j] - previous[j]) / dt}"));

        // The next tick is one period after the stop's, not at the old grid's next period.
        h.Advance(h.Loop.Period - between);
        Assert.Equal(ticks + 1, h.Loop.Ticks);
        h.Advance(between);
        Assert.Equal(ticks + 2, h.Loop.Ticks);

        h.Step(40);
        Assert.Equal(ticks + 42, h.Loop.Ticks);
        Assert.All(h.Arm.Commands.Skip(commands + 1), c => Assert.True(c is null || h.Arm.Intervals[h.Arm.Commands.IndexOf(c)] == h.Loop.Period));
        Assert.Null(h.Arm.Commands[^1]);
        Assert.Equal(0, h.Arm.Arm.LimitViolations);
        MotionLimitTests.AssertWithinLimits(h.Arm.Arm.Profile, h.InitialState, h.Arm.Commands, h.Arm.Intervals);
    }

    [Fact]
    public void Post_EStopRightAfterATick_StopStartsTheShortestIntervalAfterIt()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        var ticks = h.Loop.Ticks;

        h.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 1));
        Assert.Equal(ticks, h.Loop.Ticks);
        Assert.False(h.Loop.EStopped);

        h.Advance(h.Loop.ShortestInterval);
        Assert.Equal(ticks + 1, h.Loop.Ticks);
        Assert.True(h.Loop.EStopped);
        Assert.Equal(h.Loop.ShortestInterval, h.Arm.Intervals[^1]);
        Assert.Equal(0, h.Arm.Arm.LimitViolations);
    }

    [Fact]
    public void Post_EStopWhileAlreadyEStopped_TakenByTheNextTickWithoutAShortenedOne()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);
        h.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 1));
        h.Step(10);
        var ticks = h.Loop.Ticks;
        h.Advance(h.Loop.Period / 2);

        h.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 2));
        Assert.Equal(ticks, h.Loop.Ticks);

        h.Advance(h.Loop.Period / 2);
        Assert.Equal(ticks + 1, h.Loop.Ticks);
        Assert.Equal(2, h.Loop.LatchedEStopGeneration);
    }

    [Fact]
    public void Post_OtherCommandsBetweenTicks_WaitForTheNextTick()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        var ticks = h.Loop.Ticks;
        h.Advance(h.Loop.Period / 2);

        h.Post(new RobotCommand(RobotCommandKind.TaskChanged, null, 200, 0));
        h.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0));
        Assert.Equal(ticks, h.Loop.Ticks);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);

        h.Advance(h.Loop.Period / 2);
        Assert.Equal(ticks + 1, h.Loop.Ticks);
        Assert.All(h.Arm.Intervals, i => Assert.Equal(h.Loop.Period, i));
    }

    [Fact]
    public void LocalStop_EngagedBetweenTicks_ControlledStopStartsAtOnce()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        var ticks = h.Loop.Ticks;
        h.Advance(h.Loop.Period * 0.7);

        LoopHarness.OutsideTestContext(() => h.LocalStop.Engage("test"));

        Assert.Equal(ticks + 1, h.Loop.Ticks);
        Assert.Equal(AgentPhase.LocalStop, h.Loop.Phase);
        Assert.Equal(h.Loop.Period * 0.7, h.Arm.Intervals[^1]);
        h.Step(20);
        Assert.Equal(0, h.Arm.Arm.LimitViolations);
        MotionLimitTests.AssertWithinLimits(h.Arm.Arm.Profile, h.InitialState, h.Arm.Commands, h.Arm.Intervals);
    }

    [Fact]
    public void Post_ResumeAfterEStop_MovesAgain()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0));
        h.Step(20);
        var chunks = h.Metrics.ChunksExecuted;

        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0));
        h.Step(20);

        Assert.False(h.Loop.EStopped);
        Assert.True(h.Metrics.ChunksExecuted > chunks);
        Assert.NotNull(h.Arm.Commands[^1]);
        Assert.Equal(0, h.Metrics.IdleGaps);
    }

    [Fact]
    public void RunAsync_ChunksOlderThanAChunkDuration_DroppedAsStale()
    {
        using var h = new LoopHarness();
        h.Source.Latency = TimeSpan.FromMilliseconds(620); // a chunk lasts 500 ms

        h.Start().Step(100);

        Assert.True(h.Metrics.StaleChunks >= 5, $"{h.Metrics.StaleChunks} stale");
        Assert.Equal(0, h.Metrics.ChunksExecuted);
        Assert.All(h.Arm.Commands, Assert.Null);
        Assert.Equal(h.Metrics.ControlTicks, h.Metrics.HoldTicks);
    }

    [Fact]
    public void RunAsync_ChunkShorterThanItsAge_DroppedAsStale()
    {
        using var h = new LoopHarness();
        h.Source.Latency = TimeSpan.FromMilliseconds(330); // 6.6 periods: all 4 actions of each answer are in the past
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 4, 20), 4, 8);

        h.Start().Step(60);

        Assert.True(h.Metrics.StaleChunks > 0);
        Assert.Equal(0, h.Metrics.ChunksExecuted);
    }

    [Fact]
    public void RunAsync_SourceFails_FinishesTheChunkThenHoldsAndRecovers()
    {
        using var h = new LoopHarness();
        var failing = false;
        h.Source.Respond = (_, tick, _) => failing
            ? ChunkResult.Failed("inference unavailable")
            : ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8);
        h.Start().Step(40);
        Assert.Equal(0, h.Metrics.IdleGaps);

        failing = true;
        h.Step(40);
        var chunksWhileFailing = h.Metrics.ChunksExecuted;
        Assert.Equal(1, h.Metrics.IdleGaps);
        Assert.True(h.Metrics.RequestFailures > 10, $"{h.Metrics.RequestFailures} failures: it keeps asking");
        Assert.Null(h.Arm.Commands[^1]);
        Assert.Equal(AgentPhase.Starved, h.Loop.Phase);
        Assert.Equal("inference unavailable", h.Metrics.LastError);

        failing = false;
        h.Step(40);
        Assert.True(h.Metrics.ChunksExecuted > chunksWhileFailing);
        Assert.NotNull(h.Arm.Commands[^1]);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
        Assert.Equal(1, h.Metrics.IdleGaps);
    }

    [Fact]
    public void RunAsync_FleetRefusesForNow_KeepsExecutingWhatItHoldsAsksAfterTheHintAndHoldsOnlyWhenOut()
    {
        using var h = new LoopHarness();
        var refusing = true;
        h.Source.Respond = (_, tick, n) => n > 1 && refusing
            ? ChunkResult.Refused("cannot finish by the deadline even at the first exit", TimeSpan.FromMilliseconds(400))
            : ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8);
        h.Start();
        while (h.Metrics.Refusals == 0)
        {
            h.Step(1);
        }

        var executedAtRefusal = h.ExecutedTicks;
        Assert.NotNull(h.Arm.Commands[^1]);
        h.Step(40); // 2 s

        Assert.True(h.ExecutedTicks > executedAtRefusal, "the actions held when refused were executed");
        Assert.Equal(0, h.Metrics.RequestFailures);
        Assert.Null(h.Arm.Commands[^1]);
        Assert.Equal(1, h.Metrics.IdleGaps);
        // One request per hint (400 ms) plus its 120 ms round trip, not one per tick as after a failure.
        Assert.InRange(h.Metrics.Refusals, 3, 5);

        refusing = false;
        h.Step(20);
        Assert.NotNull(h.Arm.Commands[^1]);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
    }

    [Fact]
    public void RunAsync_SourceThrows_TreatedAsAFailedRequest()
    {
        using var h = new LoopHarness();
        h.Source.Respond = (_, _, _) => throw new InvalidOperationException("boom");

        h.Start().Step(10);

        Assert.True(h.Metrics.RequestFailures >= 5);
        Assert.Contains("boom", h.Metrics.LastError, StringComparison.Ordinal);
        Assert.All(h.Arm.Commands, Assert.Null);
    }

    [Fact]
    public void RunAsync_FleetSaysHold_HoldsWithoutIdleGapsAndPollsSlowly()
    {
        using var h = new LoopHarness(new ControlLoopOptions { HoldPollInterval = TimeSpan.FromSeconds(1) });
        h.Source.Latency = TimeSpan.FromMilliseconds(30);
        h.Source.Respond = (_, _, _) => ChunkResult.Hold(eStopped: false, task: null);

        h.Start().Step(100); // 5 s

        Assert.Equal(0, h.Metrics.IdleGaps);
        Assert.Equal(h.Metrics.ControlTicks, h.Metrics.HoldTicks);
        Assert.Equal(AgentPhase.Holding, h.Loop.Phase);
        Assert.InRange(h.Source.Requests, 4, 6);
    }

    [Fact]
    public void RunAsync_FleetAnswersEStopped_EStopsEvenWithoutThePush()
    {
        using var h = new LoopHarness();
        h.Source.Respond = (_, _, _) => ChunkResult.Hold(eStopped: true, task: null);

        h.Start().Step(10);

        Assert.True(h.Loop.EStopped);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
    }

    [Fact]
    public void Post_TaskCleared_StopsWithinAControlledStop()
    {
        using var h = new LoopHarness();
        h.Start().Step(30);
        var commands = h.Arm.Commands.Count;

        h.Commands.Post(new RobotCommand(RobotCommandKind.TaskChanged, null, 200, 0));
        h.Source.Respond = (_, _, _) => ChunkResult.Hold(eStopped: false, task: null);
        h.Step(4);

        // A controlled stop (at most 3 decelerating ticks), then the driver holds.
        Assert.Contains(null, h.Arm.Commands.Skip(commands).Take(4));
        Assert.Null(h.Arm.Commands[^1]);
        Assert.Equal(AgentPhase.Holding, h.Loop.Phase);
    }

    [Fact]
    public void RunAsync_EachRequest_SendsTheModelsStateAndCameraSizes()
    {
        using var h = new LoopHarness();

        h.Start().Step(30);

        Assert.NotEmpty(h.Source.Observations);
        var sequences = h.Source.Observations.Select(o => o.Sequence).ToArray();
        Assert.Equal(Enumerable.Range(1, sequences.Length).Select(i => (long)i), sequences);
        foreach (var observation in h.Source.Observations)
        {
            Assert.Equal(h.Model.StateDim, observation.State.Length);
            Assert.Equal(h.Model.Cameras.Length, observation.Images.Length);
            for (var c = 0; c < h.Model.Cameras.Length; c++)
            {
                Assert.Equal(h.Model.Cameras[c].Height * h.Model.Cameras[c].Width * 3, observation.Images[c].Length);
            }
        }
    }

    [Fact]
    public void RunAsync_EachRequest_ReportsTheActionsTheArmStillHeld()
    {
        using var h = new LoopHarness();

        h.Start().Step(60);

        // The first goes out holding nothing; each later one when the chunk is down to the request-ahead window (5 of 10).
        var held = h.Source.Observations.Select(o => o.ActionsHeld).ToArray();
        Assert.True(held.Length > 3, $"{held.Length} requests");
        Assert.Equal(0, held[0]);
        Assert.All(held.Skip(1), n => Assert.Equal(Chunk / 2, n));
    }

    [Fact]
    public async Task RunAsync_Cancelled_StopsAndHolds()
    {
        var h = new LoopHarness();
        h.Start().Step(5);

        h.Dispose();
        await h.Run!;

        Assert.Equal(AgentPhase.Stopped, h.Loop.Phase);
        Assert.Null(h.Arm.Commands[^1]);
    }

    [Fact]
    public async Task RunAsync_StartedTwice_Throws()
    {
        using var h = new LoopHarness();
        h.Start();

        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Loop.RunAsync(CancellationToken.None));
    }
}
