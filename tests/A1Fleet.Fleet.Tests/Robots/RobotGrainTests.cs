using A1Fleet.Grains;

namespace A1Fleet.Fleet.Tests.Robots;

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
    public async Task Bind_SecondAgent_RevokesTheFirstLease()
    {
        var id = NewId();
        var first = new TestAgent(fixture.Client, id);
        var second = new TestAgent(fixture.Client, id);
        var firstLease = await first.BindAsync("agent-a");
        await first.Robot.AssignTask("open the drawer", "test");
        var secondLease = await second.BindAsync("agent-b");
        Assert.True(secondLease.Epoch > firstLease.Epoch);
        Assert.Contains(first.Commands, c => c.Kind == RobotCommandKind.LeaseRevoked);

        var stale = await first.ActAsync(firstLease.Epoch);
        Assert.Equal(ChunkStatus.LeaseLost, stale.Status);
        var fresh = await second.ActAsync();
        Assert.Equal(ChunkStatus.Ok, fresh.Status);
    }

    [Fact]
    public async Task Bind_SameAgentAgain_DoesNotRevokeItself()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync("agent-same");
        await agent.BindAsync("agent-same");
        Assert.DoesNotContain(agent.Commands, c => c.Kind == RobotCommandKind.LeaseRevoked);
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
    public async Task EStop_PushesToTheAgentAndHoldsUntilResume()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        await agent.Robot.AssignTask("close the drawer", "test");
        await agent.Robot.EStop("operator");
        Assert.Contains(agent.Commands, c => c.Kind == RobotCommandKind.EStop);
        var held = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Hold, held.Status);
        Assert.True(held.EStopped);

        await agent.Robot.Resume("operator");
        Assert.Contains(agent.Commands, c => c.Kind == RobotCommandKind.Resume);
        Assert.Equal(ChunkStatus.Ok, (await agent.ActAsync()).Status);
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

    [Fact]
    public async Task Act_BudgetTooSmallForAnyExit_AnsweredAtTheFirstExitAndCountedAsMiss()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var lease = await agent.BindAsync();
        await agent.Robot.AssignTask("pick up the cup", "test");
        await agent.Robot.SetLatencyBudget(0.001);
        var chunk = await agent.ActAsync();
        Assert.Equal(ChunkStatus.Ok, chunk.Status);
        Assert.True(chunk.Stats!.BudgetMissed);
        Assert.Equal(lease.Model.ExitLayers[0], chunk.Stats.ExitLayer);
        Assert.Equal(1, (await agent.Robot.GetStatus()).Counters.BudgetMisses);
    }
}
