using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>
/// The e-stop latch, the local stop and the refusal of chunks that something newer has overtaken. The "fleet" here
/// answers every request with a chunk, as a confused or partitioned one might: only the agent's rules keep the arm still.
/// </summary>
public sealed class SafetyLatchTests
{
    private const int Chunk = 10;

    private static readonly RobotTask TaskV5 = new("stack the cubes", DateTimeOffset.UnixEpoch, "test", 5);

    [Fact]
    public void EStop_FleetKeepsAnsweringWithUnnumberedChunks_ArmHoldsUntilAResume()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0));
        h.Step(5);
        var commands = h.Arm.Commands.Count;

        h.Step(100); // five polls, each answered with a chunk that names no e-stop generation

        Assert.True(h.Loop.EStopped);
        Assert.All(h.Arm.Commands.Skip(commands), Assert.Null);
        Assert.True(h.Source.Requests > 3);

        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0));
        h.Step(10);
        Assert.False(h.Loop.EStopped);
        Assert.NotNull(h.Arm.Commands[^1]);
    }

    [Fact]
    public void EStop_RequestsFailOrTimeOut_LatchHolds()
    {
        using var h = new LoopHarness();
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, eStopGeneration: 3);
        h.Start().Step(20);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 4));
        h.Source.Respond = (_, _, _) => ChunkResult.Failed("cluster unreachable");
        h.Step(5);
        var commands = h.Arm.Commands.Count;

        h.Step(100);

        Assert.True(h.Loop.EStopped);
        Assert.Equal(4, h.Loop.LatchedEStopGeneration);
        Assert.All(h.Arm.Commands.Skip(commands), Assert.Null);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
    }

    [Fact]
    public void Resume_OfAnOlderGeneration_IgnoredAndTheLatchHolds()
    {
        using var h = new LoopHarness();
        var generation = 2L;
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, eStopGeneration: generation);
        h.Start().Step(20);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 3));
        h.Step(5);

        // A resume of generation 2 was for an earlier e-stop, delivered late; the grain still answers under generation 2.
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0, EStopGeneration: 2));
        var commands = h.Arm.Commands.Count;
        h.Step(60);
        Assert.True(h.Loop.EStopped);
        Assert.All(h.Arm.Commands.Skip(commands), Assert.Null);

        generation = 3;
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0, EStopGeneration: 3));
        h.Step(10);
        Assert.False(h.Loop.EStopped);
        Assert.NotNull(h.Arm.Commands[^1]);
    }

    [Fact]
    public void EStop_LostResumeThenAChunkIssuedAfterIt_ClearsTheLatch()
    {
        using var h = new LoopHarness(new ControlLoopOptions { HoldPollInterval = TimeSpan.FromMilliseconds(500) });
        var eStopped = false;
        h.Source.Respond = (_, tick, _) => eStopped
            ? ChunkResult.Hold(eStopped: true, task: null, eStopGeneration: 7)
            : ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, eStopGeneration: 7);
        h.Start().Step(20);
        eStopped = true;
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 7));
        h.Step(40);
        Assert.True(h.Loop.EStopped);

        // The operator resumed generation 7, but the push was lost: the next poll's chunk, issued after it, says so.
        eStopped = false;
        h.Step(30);

        Assert.False(h.Loop.EStopped);
        Assert.NotNull(h.Arm.Commands[^1]);
    }

    [Fact]
    public void Hold_SayingNotEStopped_DoesNotClearTheLatch()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 1));
        h.Source.Respond = (_, _, _) => ChunkResult.Hold(eStopped: false, task: null, eStopGeneration: 1);

        h.Step(60);

        Assert.True(h.Loop.EStopped);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
    }

    [Fact]
    public void Chunk_IssuedUnderAnOlderEStopGeneration_DroppedAndCounted()
    {
        using var h = new LoopHarness();

        // The e-stop and its resume went by (generation 2); this fleet still answers with chunks issued under generation 1.
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, eStopGeneration: 1);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 2));
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0, EStopGeneration: 2));
        h.Start().Step(40);

        Assert.False(h.Loop.EStopped);
        Assert.True(h.Metrics.SupersededChunks > 5, $"{h.Metrics.SupersededChunks} superseded");
        Assert.Equal(0, h.Metrics.ChunksExecuted);
        Assert.All(h.Arm.Commands, Assert.Null);
    }

    [Fact]
    public void Chunk_IssuedUnderAnOlderLeaseEpoch_DroppedAndCounted()
    {
        using var h = new LoopHarness();
        var epoch = 3L;
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, epoch: epoch);
        h.Start().Step(20);
        Assert.True(h.Metrics.ChunksExecuted > 0);

        // Another agent took the robot at epoch 4: what our epoch 3 was issued must not run any more.
        h.Commands.Post(new RobotCommand(RobotCommandKind.LeaseRevoked, null, 200, 4));
        var executed = h.Metrics.ChunksExecuted;
        h.Step(40);
        Assert.Equal(executed, h.Metrics.ChunksExecuted);
        Assert.True(h.Metrics.SupersededChunks > 0);

        // Bound again at epoch 5 (the bind posts the lease's word): chunks of epoch 5 run.
        epoch = 5;
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 5));
        h.Step(20);
        Assert.True(h.Metrics.ChunksExecuted > executed);
    }

    [Fact]
    public void Chunk_WithoutAnEpochOnceOneIsKnown_Dropped()
    {
        using var h = new LoopHarness();
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 2));

        h.Start().Step(40); // the default source's chunks name no epoch (0)

        Assert.Equal(0, h.Metrics.ChunksExecuted);
        Assert.True(h.Metrics.SupersededChunks > 0);
    }

    [Fact]
    public void Chunk_ForAnOlderTaskVersion_DroppedAndCounted()
    {
        using var h = new LoopHarness();
        var task = new RobotTask("stack the cubes", DateTimeOffset.UnixEpoch, "test", 4);
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, Chunk, 20), Chunk, 8, task, taskVersion: task.Version);
        h.Start().Step(20);
        Assert.True(h.Metrics.ChunksExecuted > 0);

        h.Commands.Post(new RobotCommand(RobotCommandKind.TaskChanged, TaskV5, 200, 0));
        var executed = h.Metrics.ChunksExecuted;
        h.Step(40);
        Assert.Equal(executed, h.Metrics.ChunksExecuted);
        Assert.True(h.Metrics.SupersededChunks > 0);

        task = TaskV5;
        h.Step(20);
        Assert.True(h.Metrics.ChunksExecuted > executed);
        Assert.Equal(TaskV5, h.Loop.Task);
    }

    [Fact]
    public void LocalStop_FleetResumeDoesNotClearIt_OnlyALocalRelease()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);

        Assert.True(h.LocalStop.Engage("test"));
        Assert.False(h.LocalStop.Engage("again"));
        h.Step(5);
        Assert.Equal(AgentPhase.LocalStop, h.Loop.Phase);
        Assert.True(h.Loop.LocalStopped);
        var commands = h.Arm.Commands.Count;

        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0));
        h.Step(60);
        Assert.All(h.Arm.Commands.Skip(commands), Assert.Null);
        Assert.Equal(AgentPhase.LocalStop, h.Loop.Phase);

        Assert.True(h.LocalStop.Release());
        h.Step(10);
        Assert.False(h.Loop.LocalStopped);
        Assert.NotNull(h.Arm.Commands[^1]);
        Assert.Equal(1, h.Metrics.LocalStops);
    }

    [Fact]
    public void LocalRelease_WhileTheFleetEStopIsLatched_ArmStillHolds()
    {
        using var h = new LoopHarness();
        h.Start().Step(20);
        h.LocalStop.Engage("test");
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0, EStopGeneration: 1));
        h.Step(5);

        h.LocalStop.Release();
        var commands = h.Arm.Commands.Count;
        h.Step(40);

        Assert.True(h.Loop.EStopped);
        Assert.Equal(AgentPhase.EStopped, h.Loop.Phase);
        Assert.All(h.Arm.Commands.Skip(commands), Assert.Null);
    }

    [Fact]
    public void StopForShutdown_Moving_CompletesOnceAtRestAfterAControlledStop()
    {
        using var h = new LoopHarness();
        h.Start().Step(40);
        Assert.Equal(AgentPhase.Executing, h.Loop.Phase);
        var commands = h.Arm.Commands.Count;

        var rest = h.Loop.StopForShutdownAsync();
        Assert.False(rest.IsCompleted);
        h.Step(5);

        Assert.True(rest.IsCompletedSuccessfully);
        var after = h.Arm.Commands.Skip(commands).ToList();
        Assert.InRange(after.TakeWhile(c => c is not null).Count(), 0, 3);
        Assert.Null(after[^1]);
        MotionLimitTests.AssertWithinLimits(h.Arm.Arm.Profile, h.InitialState, h.Arm.Commands);
    }

    [Fact]
    public void RejectSpeedFactor_ChunkFarBeyondTheLimits_RejectedAndCounted()
    {
        using var h = new LoopHarness(new ControlLoopOptions { RejectSpeedFactor = 5 });
        h.Source.Respond = (_, tick, n) =>
        {
            var actions = ReferenceMotion.Chunk(tick, Chunk, 20);
            if (n % 2 == 0)
            {
                actions[(5 * 8) + 2] += 1.5f; // joint 3 jumps 1.5 rad in one period: 30 rad/s, 14x its limit
            }

            return ChunkResult.Chunk(actions, Chunk, 8);
        };

        h.Start().Step(100);

        Assert.True(h.Metrics.RejectedChunks > 3, $"{h.Metrics.RejectedChunks} rejected");
        Assert.True(h.Metrics.ChunksExecuted > 3, $"{h.Metrics.ChunksExecuted} executed");
        Assert.Contains("joint 2", h.Metrics.LastError, StringComparison.Ordinal);
        Assert.InRange(h.Metrics.MaxCommandStep, 0, 2.175 / 20);
    }
}
