using A1Fleet.Grains;

namespace A1Fleet.Grains.Tests.Robots;

[Collection(FleetClusterCollection.Name)]
public sealed class RobotGrainTests(FleetClusterFixture fixture)
{
    private static string NewId() => "robot-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Act_NoTask_HoldsAndCountsIt()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        var chunk = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Hold, chunk.Status);
        Assert.Empty(chunk.Actions);
        var status = await agent.Robot.GetStatus();
        Assert.Equal(1, status.Counters.Holds);
    }

    [Fact]
    public async Task Unbind_AfterCountedRequests_WritesTheCountersOnceAndTheFlushTimerNothingMore()
    {
        // A robot given back is written once, with its counters: a flush left for later met a store already gone when
        // the fleet demo stopped its silo (Orleans logged the lost write as a failure).
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync("agent-a");
        await agent.ActAsync();
        Assert.True(await agent.Robot.Unbind(lease.Epoch, "agent-a"));
        var written = RoundTripGrainStorage.WritesOf(agent.RobotId);

        // Ten of this cluster's flush intervals (50 ms): a flush timer that took the counters for unwritten writes again.
        await Task.Delay(TimeSpan.FromMilliseconds(500));

        Assert.Equal(written, RoundTripGrainStorage.WritesOf(agent.RobotId));
        Assert.Equal(1, (await agent.Robot.GetStatus()).Counters.Holds);
    }

    [Fact]
    public async Task Act_WithTask_ReturnsAChunkWithItsCost()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.AssignTask("pick up the red block", "test");
        var chunk = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Ok, chunk.Status);
        Assert.Equal(lease.Model.Chunk * lease.Model.ActionDim, chunk.Actions.Length);
        Assert.NotNull(chunk.Stats);
        Assert.Contains(chunk.Stats!.ExitLayer, lease.Model.ExitLayers);
        Assert.Equal("pick up the red block", chunk.Task!.Instruction);
        Assert.NotEqual("none", chunk.Stats.ThresholdVersion);
        var status = await agent.Robot.GetStatus();
        Assert.Equal(1, status.Counters.Chunks);
        Assert.True(status.Counters.P50LatencyMs > 0);
    }

    [Fact]
    public async Task Act_AfterReactivation_AsksForTheObserverAndSubscribeRestoresPushes()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.AssignTask("open the drawer", "test");
        Assert.False((await agent.ActAsync()).ObserverMissing);

        await fixture.Cluster.DeactivateAsync(agent.Robot);
        var afterMove = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Ok, afterMove.Status);
        Assert.True(afterMove.ObserverMissing);

        await agent.Robot.Subscribe(lease.Epoch, agent.Reference);
        await agent.Robot.EStop("operator");
        Assert.Contains(agent.Commands, c => c.Kind == RobotCommandKind.EStop);
        Assert.False((await agent.ActAsync()).ObserverMissing);
    }

    [Fact]
    public async Task EStop_PersistsPushesAndHoldsUntilResume()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        await agent.Robot.AssignTask("close the drawer", "test");

        var stop = await agent.Robot.EStop("operator");

        Assert.True(stop.Confirmed);
        Assert.True(stop.Persisted);
        Assert.True(stop.Pushed);
        Assert.True(stop.AgentOnline);
        Assert.Null(stop.Error);
        Assert.Contains(agent.Commands, c => c.Kind == RobotCommandKind.EStop && c.EStopGeneration == stop.Generation);
        var held = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Hold, held.Status);
        Assert.True(held.EStopped);
        Assert.Equal(stop.Generation, held.EStopGeneration);

        var resume = await agent.Robot.Resume("operator");
        Assert.True(resume.Confirmed);
        Assert.Contains(agent.Commands, c => c.Kind == RobotCommandKind.Resume && c.EStopGeneration == stop.Generation);
        Assert.Equal(ChunkStatus.Ok, (await agent.ActAsync()).Status);
    }

    [Fact]
    public async Task EStop_WhileItsWriteIsOnItsWay_IsPushedAtOnceAndConfirmedOncePersisted()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        var heard = agent.NextPushed(RobotCommandKind.EStop);
        var write = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<EStopConfirmation> stop;
        using (RoundTripGrainStorage.HoldWrites(agent.RobotId, write.Task))
        {
            stop = agent.Robot.EStop("operator");

            // The agent hears it while the write is still held (the wait only bounds a broken test).
            var command = await heard.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(1, command.EStopGeneration);
            Assert.False(stop.IsCompleted);
            write.SetResult();
        }

        var confirmation = await stop;
        Assert.True(confirmation.Persisted);
        Assert.True(confirmation.Pushed);
        Assert.NotNull(confirmation.PersistedAt);
    }

    [Fact]
    public async Task EStop_Repeated_KeepsTheGenerationAndTheNextStopOpensANewOne()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        Assert.Equal(0, lease.EStopGeneration);

        var first = await agent.Robot.EStop("operator");
        var again = await agent.Robot.EStop("operator");
        Assert.Equal(1, first.Generation);
        Assert.Equal(first.Generation, again.Generation);
        Assert.True(again.Confirmed);
        Assert.Equal(2, agent.Commands.Count(c => c.Kind == RobotCommandKind.EStop));

        await agent.Robot.Resume("operator");
        var second = await agent.Robot.EStop("operator");
        Assert.Equal(2, second.Generation);
        Assert.Equal(2, (await agent.BindAsync()).EStopGeneration);
        await fixture.Cluster.DeactivateAsync(agent.Robot);
        Assert.Equal(2, (await agent.Robot.GetStatus()).EStopGeneration);
    }

    [Fact]
    public async Task Act_OkChunk_SaysWhatItWasIssuedUnder()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.EStop("operator");
        await agent.Robot.Resume("operator");
        await agent.Robot.AssignTask("stack the cups", "test");

        var chunk = await agent.ActAsync();

        Assert.Equal(ChunkStatus.Ok, chunk.Status);
        Assert.Equal(lease.Epoch, chunk.Epoch);
        Assert.Equal(chunk.Task!.Version, chunk.TaskVersion);
        Assert.Equal(1, chunk.EStopGeneration);
    }

    [Fact]
    public async Task Commands_InterleavedWithCounterFlushes_AllPersistWithoutAnETagFailure()
    {
        // The fixture flushes counters every 50 ms, each write takes a storage round trip and memory storage checks
        // ETags: writes of this reentrant grain that overlapped would carry the same ETag, and the later one would be
        // refused (InconsistentStateException) and lost.
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        const int rounds = 20;
        var calls = new List<Task>();
        for (var i = 0; i < rounds; i++)
        {
            calls.Add(agent.ActAsync());
            calls.Add(agent.Robot.AssignTask($"task {i}", "test"));
            calls.Add(agent.Robot.SetLatencyBudget(100 + i));
            calls.Add(agent.Robot.EStop("operator"));
        }

        await Task.WhenAll(calls);
        await fixture.Cluster.DeactivateAsync(agent.Robot);
        var status = await agent.Robot.GetStatus();

        Assert.True(status.EStopped);
        Assert.Equal(1, status.EStopGeneration);
        Assert.Equal(rounds, status.Task!.Version);
        Assert.Equal(rounds, status.Counters.Requests);
    }

    [Fact]
    public async Task SetLatencyBudget_Invalid_ThrowsAndKeepsTheOldBudget()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        await agent.Robot.SetLatencyBudget(150);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => agent.Robot.SetLatencyBudget(-5));
        Assert.Equal(150, (await agent.Robot.GetStatus()).LatencyBudgetMs);
    }

    [Fact]
    public async Task Bind_UnknownModel_IsRefused()
    {
        var agent = new TestAgent(fixture.Client, NewId(), model: "no-such-model");
        var ex = await Assert.ThrowsAnyAsync<ArgumentException>(() => agent.BindAsync());
        Assert.Contains("no-such-model", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public async Task Act_ActionsHeldOutsideOneChunk_ErrorNamingTheFieldAndNothingRuns(int held)
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.AssignTask("pick up the red block", "test");

        var chunk = await agent.Robot.Act(lease.Epoch, agent.Observation() with { ActionsHeld = held });

        Assert.Equal(ChunkStatus.Error, chunk.Status);
        Assert.Empty(chunk.Actions);
        Assert.Contains("observation.actions_held", chunk.Error, StringComparison.Ordinal);
        Assert.Contains($"[0, {lease.Model.Chunk}]", chunk.Error, StringComparison.Ordinal);
        var counters = (await agent.Robot.GetStatus()).Counters;
        Assert.Equal(1, counters.Errors);
        Assert.Equal(0, counters.Chunks);
    }

    [Fact]
    public async Task Act_ActionsHeldWithinOneChunk_Answered()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.AssignTask("pick up the red block", "test");

        var chunk = await agent.Robot.Act(lease.Epoch, agent.Observation() with { ActionsHeld = lease.Model.Chunk });

        Assert.Equal(ChunkStatus.Ok, chunk.Status);
    }

    [Fact]
    public async Task Act_BudgetTooSmallForAnyExit_RefusedAtOnceWithAHintAndCounted()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        await agent.Robot.AssignTask("pick up the cup", "test");
        await agent.Robot.SetLatencyBudget(0.001);

        var chunk = await agent.ActAsync();

        Assert.Equal(ChunkStatus.Refused, chunk.Status);
        Assert.Empty(chunk.Actions);
        Assert.False(chunk.EStopped);
        Assert.Contains("first exit", chunk.Error, StringComparison.Ordinal);
        Assert.InRange(chunk.RetryAfterMs, 1, 1000);
        var counters = (await agent.Robot.GetStatus()).Counters;
        Assert.Equal(1, counters.Refusals);
        Assert.Equal(0, counters.Errors);
        Assert.Equal(0, counters.Chunks);
    }
}
