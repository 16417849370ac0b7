using A1Fleet.Grains;

namespace A1Fleet.Grains.Tests.Robots;

/// <summary>One lease per robot: a live holder keeps it, a silent one loses it by itself, an operator can end it.</summary>
[Collection(FleetClusterCollection.Name)]
public sealed class RobotLeaseTests(FleetClusterFixture fixture)
{
    private static string NewId() => "lease-" + Guid.NewGuid().ToString("N")[..8];

    private TimeSpan PastTtl => fixture.LeaseTtl + TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Bind_OtherAgentWhileTheHolderIsAlive_IsRefusedAndTheHolderKeepsTheRobot()
    {
        var id = NewId();
        var holder = new TestAgent(fixture.Client, id);
        var intruder = new TestAgent(fixture.Client, id);
        var lease = await holder.BindAsync("agent-a");

        var refused = await Assert.ThrowsAsync<LeaseHeldException>(() => intruder.BindAsync("agent-b"));

        Assert.Equal("agent-a", refused.HolderAgentId);
        Assert.Contains("agent-a", refused.Message, StringComparison.Ordinal);
        Assert.Contains("release", refused.Message, StringComparison.Ordinal);
        var status = await holder.Robot.GetStatus();
        Assert.Equal(lease.Epoch, status.Epoch);
        Assert.Equal("agent-a", status.AgentId);
        Assert.NotEqual(ChunkStatus.LeaseLost, (await holder.ActAsync()).Status);
        Assert.DoesNotContain(holder.Commands, c => c.Kind == RobotCommandKind.LeaseRevoked);
    }

    [Fact]
    public async Task Bind_SameAgentAgain_GetsANewEpochWithoutRevokingItself()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        var first = await agent.BindAsync("agent-same");
        var second = await agent.BindAsync("agent-same");
        Assert.True(second.Epoch > first.Epoch);
        Assert.DoesNotContain(agent.Commands, c => c.Kind == RobotCommandKind.LeaseRevoked);
    }

    [Fact]
    public async Task Bind_AfterTheHolderWasSilentPastTheTtl_WinsAndTheOldEpochIsRefused()
    {
        var id = NewId();
        var silent = new TestAgent(fixture.Client, id);
        var next = new TestAgent(fixture.Client, id);
        var old = await silent.BindAsync("agent-a");
        await silent.Robot.AssignTask("open the drawer", "test");

        fixture.Clock.Advance(PastTtl);
        Assert.False((await silent.Robot.GetStatus()).Online);
        var lease = await next.BindAsync("agent-b");

        Assert.True(lease.Epoch > old.Epoch);
        Assert.Equal(ChunkStatus.LeaseLost, (await silent.ActAsync(old.Epoch)).Status);
        Assert.False(await silent.Robot.Heartbeat(old.Epoch));
        Assert.Equal(ChunkStatus.Ok, (await next.ActAsync()).Status);
    }

    [Fact]
    public async Task Bind_OtherAgentAfterTheGrainReactivated_IsRefusedWhileTheHolderIsRecent()
    {
        // A silo failover reactivates the grain elsewhere: the heartbeat kept in memory is gone, and the
        // persisted last-seen time must keep a live holder's robot from being handed to another agent.
        var id = NewId();
        var holder = new TestAgent(fixture.Client, id);
        await holder.BindAsync("agent-a");
        await holder.ActAsync();
        await fixture.Cluster.DeactivateAsync(holder.Robot);

        Assert.True((await holder.Robot.GetStatus()).Online);
        await Assert.ThrowsAsync<LeaseHeldException>(() => new TestAgent(fixture.Client, id).BindAsync("agent-b"));

        fixture.Clock.Advance(PastTtl);
        await new TestAgent(fixture.Client, id).BindAsync("agent-b");
        Assert.Equal("agent-b", (await holder.Robot.GetStatus()).AgentId);
    }

    [Fact]
    public async Task Heartbeat_WithinTheTtl_KeepsTheLeaseAliveBeyondOneTtl()
    {
        var id = NewId();
        var holder = new TestAgent(fixture.Client, id);
        var lease = await holder.BindAsync("agent-a");

        // Past one TTL since the bind, but only a second past the heartbeat: the calls after it have the rest of a TTL
        // of real time, which a loaded machine may take some of.
        fixture.Clock.Advance(fixture.LeaseTtl - TimeSpan.FromMilliseconds(500));
        Assert.True(await holder.Robot.Heartbeat(lease.Epoch));
        fixture.Clock.Advance(TimeSpan.FromSeconds(1));

        Assert.True((await holder.Robot.GetStatus()).Online);
        await Assert.ThrowsAsync<LeaseHeldException>(() => new TestAgent(fixture.Client, id).BindAsync("agent-b"));
    }

    [Fact]
    public async Task ReleaseLease_LiveHolder_IsToldAndTheNextBindFromAnyoneWins()
    {
        var id = NewId();
        var holder = new TestAgent(fixture.Client, id);
        var old = await holder.BindAsync("agent-a");

        var status = await holder.Robot.ReleaseLease("operator");

        Assert.Null(status.AgentId);
        Assert.False(status.Online);
        Assert.Contains(holder.Commands, c => c.Kind == RobotCommandKind.LeaseRevoked && c.Epoch > old.Epoch);
        Assert.False(await holder.Robot.Heartbeat(old.Epoch));
        Assert.Equal(ChunkStatus.LeaseLost, (await holder.ActAsync(old.Epoch)).Status);
        var taken = await new TestAgent(fixture.Client, id).BindAsync("agent-b");
        Assert.True(taken.Epoch > status.Epoch);
        Assert.Equal("agent-b", (await holder.Robot.GetStatus()).AgentId);
    }

    [Fact]
    public async Task ReleaseLease_ToASuccessor_RefusesOtherAgentsAndLetsTheSuccessorTake()
    {
        var id = NewId();
        var holder = new TestAgent(fixture.Client, id);
        await holder.BindAsync("agent-a");

        await holder.Robot.ReleaseLease("operator", "agent-new");

        var refused = await Assert.ThrowsAsync<LeaseHeldException>(() => holder.BindAsync("agent-a"));
        Assert.Contains("agent-new", refused.Message, StringComparison.Ordinal);
        await new TestAgent(fixture.Client, id).BindAsync("agent-new");
        Assert.Equal("agent-new", (await holder.Robot.GetStatus()).AgentId);
    }

    [Fact]
    public async Task Commands_ToAnOfflineRobot_SkipThePushAndStillPersist()
    {
        var agent = new TestAgent(fixture.Client, NewId());
        await agent.BindAsync();
        Assert.True((await agent.Robot.GetStatus()).Online);

        fixture.Clock.Advance(PastTtl);
        var stop = await agent.Robot.EStop("operator");
        await agent.Robot.AssignTask("wipe the table", "test");

        Assert.True(stop.Confirmed);
        Assert.False(stop.AgentOnline);
        Assert.False(stop.Pushed);
        Assert.Empty(agent.Commands);
        await fixture.Cluster.DeactivateAsync(agent.Robot);
        var status = await agent.Robot.GetStatus();
        Assert.True(status.EStopped);
        Assert.False(status.Online);
        Assert.Equal("wipe the table", status.Task?.Instruction);
    }
}
