using A1Fleet.Grains;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Tests.Control;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;

namespace A1Fleet.RobotAgent.Tests.Cluster;

public sealed class RobotGrainChunkSourceTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeRobotGrain _grain = new();
    private readonly FakeGrainFactory _grains;
    private readonly RobotCommandInbox _inbox = new();
    private readonly AgentMetrics _metrics = new(Embodiment.Franka);
    private readonly RobotGrainChunkSource _source;
    private readonly AgentOptions _options = new() { RobotId = "arm-1", Seed = 3 };

    public RobotGrainChunkSourceTests()
    {
        _grains = new FakeGrainFactory(_grain);
        var registration = new AgentRegistration("agent-1", Embodiment.Franka, "test-fm", 8, 8, ["front", "wrist"], 20, ["lab"]);
        _source = new RobotGrainChunkSource(_grains, registration, "arm-1", _inbox, _metrics, _options, _time, NullLogger.Instance);
    }

    public void Dispose() => _source.Dispose();

    [Fact]
    public async Task ConnectAsync_ClusterUp_BindsWithTheRegistrationAndAnObserver()
    {
        var lease = await _source.ConnectAsync(CancellationToken.None);

        Assert.Equal(1, lease.Epoch);
        Assert.Equal(1, _source.Epoch);
        Assert.Equal("agent-1", _grain.Registration!.AgentId);
        Assert.NotNull(_grain.Observer);
        Assert.Equal(1, _metrics.Binds);
    }

    [Fact]
    public void ConnectAsync_BindFails_RetriesWithGrowingBackoff()
    {
        _grain.FailBinds = 2;
        Task<RobotLease> connect = null!;

        LoopHarness.OutsideTestContext(() => connect = _source.ConnectAsync(CancellationToken.None));
        Assert.Equal(1, _grain.Binds);

        // First wait: 0.25 s ±20%; the second doubles to 0.5 s ±20%.
        LoopHarness.OutsideTestContext(() => _time.Advance(TimeSpan.FromSeconds(0.3)));
        Assert.Equal(2, _grain.Binds);
        LoopHarness.OutsideTestContext(() => _time.Advance(TimeSpan.FromSeconds(0.35)));
        Assert.Equal(2, _grain.Binds);
        Assert.False(connect.IsCompleted);
        LoopHarness.OutsideTestContext(() => _time.Advance(TimeSpan.FromSeconds(0.3)));

        Assert.Equal(3, _grain.Binds);
        Assert.True(connect.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task RequestAsync_BindRefusedByALiveHolder_HoldsSaysSoAndRetriesAfterTheBackoff()
    {
        _grain.BindFailure = new LeaseHeldException("arm-1", "agent-other", DateTimeOffset.UnixEpoch.AddSeconds(3));

        var refused = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Failed, refused.Outcome);
        Assert.StartsWith("bind refused:", refused.Error, StringComparison.Ordinal);
        Assert.Contains("agent-other", refused.Error, StringComparison.Ordinal);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);
        Assert.Equal(1, _grain.Binds);

        // Before the back-off has passed the agent does not ask again; after it, it binds once the holder is gone.
        Assert.Equal("waiting to bind again", (await _source.RequestAsync(Observation(), CancellationToken.None)).Error);
        Assert.Equal(1, _grain.Binds);
        _grain.BindFailure = null;
        _time.Advance(refused.RetryAfter);
        Assert.Equal(ChunkOutcome.Actions, (await _source.RequestAsync(Observation(), CancellationToken.None)).Outcome);
        Assert.Equal(2, _grain.Binds);
    }

    [Fact]
    public async Task HeartbeatAsync_EpochNoLongerHeld_BindsAgainOnTheNextRequest()
    {
        await _source.ConnectAsync(CancellationToken.None);
        await _source.HeartbeatAsync(CancellationToken.None);
        Assert.False(_source.NeedsBind);

        // Another agent took the robot behind our back (no push reached us): the heartbeat is how we learn it.
        _grain.Epoch += 5;
        await _source.HeartbeatAsync(CancellationToken.None);

        Assert.True(_source.NeedsBind);
        Assert.Equal(2, _grain.Heartbeats);
        await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(2, _grain.Binds);
    }

    [Fact]
    public async Task RequestAsync_Bound_ReturnsTheChunk()
    {
        await _source.ConnectAsync(CancellationToken.None);

        var result = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Actions, result.Outcome);
        Assert.Equal(10, result.Steps);
        Assert.Equal(8, result.ActionDim);
        Assert.Equal(80, result.Actions.Length);
        Assert.Equal("pick the cube", result.Task!.Instruction);
    }

    [Fact]
    public async Task RequestAsync_NoTaskOrEStopped_Holds()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.EStopped = true;

        var result = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Hold, result.Outcome);
        Assert.True(result.EStopped);
    }

    [Fact]
    public async Task RequestAsync_AnsweredEStopped_PostsTheEStopByReplySoItWakesTheLoop()
    {
        await _source.ConnectAsync(CancellationToken.None);
        Drain();
        _grain.EStopped = true;

        await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.True(_inbox.TryTake(out var command, out var route));
        Assert.Equal(RobotCommandKind.EStop, command.Kind);
        Assert.Equal(CommandRoute.Reply, route);
        Assert.False(_inbox.TryTake(out _));
    }

    [Fact]
    public async Task RequestAsync_AnsweredHoldNotEStopped_PostsNothing()
    {
        await _source.ConnectAsync(CancellationToken.None);
        Drain();
        _grain.Task = null;

        var result = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Hold, result.Outcome);
        Assert.False(_inbox.TryTake(out _));
    }

    [Fact]
    public async Task RequestAsync_LeaseLost_BindsAgainOnTheNextRequest()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.Epoch = 7; // the grain's state was reset or replaced

        var lost = await _source.RequestAsync(Observation(), CancellationToken.None);
        var next = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Failed, lost.Outcome);
        Assert.Contains("lease epoch 1", lost.Error, StringComparison.Ordinal);
        Assert.Equal(ChunkOutcome.Actions, next.Outcome);
        Assert.Equal(2, _grain.Binds);
        Assert.Equal(8, _source.Epoch);
    }

    [Fact]
    public async Task RequestAsync_SiloUnavailable_RebindsWithBackoffWithoutOperator()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.ActFailure = new SiloUnavailableException("silo 10.0.0.7:11111 is dead");

        var failed = await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(ChunkOutcome.Failed, failed.Outcome);
        Assert.Contains(nameof(SiloUnavailableException), failed.Error, StringComparison.Ordinal);

        // The silo is still down when the agent first binds again: it backs off.
        _grain.ActFailure = null;
        _grain.FailBinds = 1;
        var bindFailed = await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(2, _grain.Binds);
        Assert.InRange(bindFailed.RetryAfter.TotalSeconds, 0.2, 0.3);

        var waiting = await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(ChunkOutcome.Failed, waiting.Outcome);
        Assert.Equal(2, _grain.Binds);

        _time.Advance(TimeSpan.FromSeconds(0.31));
        var recovered = await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(ChunkOutcome.Actions, recovered.Outcome);
        Assert.Equal(3, _grain.Binds);
        Assert.NotNull(_grain.Observer);
    }

    [Fact]
    public async Task RequestAsync_SiloHangs_TimesOutAndBindsAgain()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.Hang = true;

        var pending = _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.False(pending.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds + 0.01));
        var timedOut = await pending;

        Assert.Equal(ChunkOutcome.Failed, timedOut.Outcome);
        _grain.Hang = false;
        var next = await _source.RequestAsync(Observation(), CancellationToken.None);
        Assert.Equal(ChunkOutcome.Actions, next.Outcome);
        Assert.Equal(2, _grain.Binds);
    }

    [Fact]
    public async Task RequestAsync_WhileABindHangs_FailsFastAndTheBindTimesOut()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.Epoch = 7;
        await _source.RequestAsync(Observation(), CancellationToken.None);
        _grain.HangBinds = true;

        var binding = _source.RequestAsync(Observation(), CancellationToken.None);
        var meanwhile = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.False(binding.IsCompleted);
        Assert.Equal("binding in progress", meanwhile.Error);
        Assert.Equal(2, _grain.Binds);
        _time.Advance(TimeSpan.FromSeconds(_options.BindTimeoutSeconds + 0.01));
        Assert.Contains("bind failed", (await binding).Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Observer_EStopPushed_ReachesTheInbox()
    {
        await _source.ConnectAsync(CancellationToken.None);
        Drain();

        await _grain.Observer!.OnCommand(new RobotCommand(RobotCommandKind.EStop, null, 200, 1));

        Assert.True(_inbox.TryTake(out var command));
        Assert.Equal(RobotCommandKind.EStop, command.Kind);
    }

    [Fact]
    public async Task ConnectAsync_LeaseSaysEStopped_PostsEStop()
    {
        _grain.EStopped = true;

        await _source.ConnectAsync(CancellationToken.None);

        Assert.True(_inbox.TryTake(out var command, out var route));
        Assert.Equal(RobotCommandKind.EStop, command.Kind);
        Assert.Equal(CommandRoute.Bind, route);
    }

    [Fact]
    public async Task Observer_LeaseRevokedByOurOwnRebind_Ignored()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.Epoch = 7;
        await _source.RequestAsync(Observation(), CancellationToken.None);

        // This bind makes the grain revoke our previous registration (it cannot tell it is us).
        await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.DoesNotContain(Drain(), c => c.Kind == RobotCommandKind.LeaseRevoked);
    }

    [Fact]
    public async Task Observer_LeaseRevokedByAnotherAgent_HoldsAndWaitsBeforeTakingItBack()
    {
        await _source.ConnectAsync(CancellationToken.None);

        await _grain.Observer!.OnCommand(new RobotCommand(RobotCommandKind.LeaseRevoked, null, 200, 2));
        var result = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Contains(Drain(), c => c.Kind == RobotCommandKind.LeaseRevoked);
        Assert.Equal(ChunkOutcome.Failed, result.Outcome);
        Assert.InRange(result.RetryAfter.TotalSeconds, _options.RebindBackoffMaxSeconds - 0.01, _options.RebindBackoffMaxSeconds);
        Assert.Equal(1, _grain.Binds);
    }

    [Fact]
    public async Task ReportAsync_Bound_SendsTheCounters()
    {
        await _source.ConnectAsync(CancellationToken.None);

        await _source.ReportAsync(new AgentCounters(10, 2, 1, 0, 0.01, 3), CancellationToken.None);

        Assert.Equal(10, Assert.Single(_grain.Reports).ControlTicks);
    }

    [Fact]
    public async Task Dispose_AfterBind_DeletesTheObserverReference()
    {
        await _source.ConnectAsync(CancellationToken.None);

        _source.Dispose();

        Assert.Equal(1, _grains.DeletedReferences);
    }

    [Fact]
    public async Task RequestAsync_ObservationCapturedEarlier_SendsItsAgeOnTheAgentsOwnClock()
    {
        await _source.ConnectAsync(CancellationToken.None);
        var observation = Observation() with { CapturedTimestamp = _time.GetTimestamp() };
        _time.Advance(TimeSpan.FromMilliseconds(37));

        await _source.RequestAsync(observation, CancellationToken.None);

        Assert.Equal(37, Assert.Single(_grain.Observations).AgeMs, 6);
    }

    [Fact]
    public async Task RequestAsync_FleetRefusesForNow_IsARefusalWithTheHintNotAFailureOrARebind()
    {
        await _source.ConnectAsync(CancellationToken.None);
        _grain.RefuseWithRetryMs = 80;

        var result = await _source.RequestAsync(Observation(), CancellationToken.None);

        Assert.Equal(ChunkOutcome.Refused, result.Outcome);
        Assert.Equal(TimeSpan.FromMilliseconds(80), result.RetryAfter);
        Assert.Equal("not now", result.Error);
        Assert.False(_source.NeedsBind);
        Assert.Equal(1, _grain.Binds);
    }

    private List<RobotCommand> Drain()
    {
        var commands = new List<RobotCommand>();
        while (_inbox.TryTake(out var c))
        {
            commands.Add(c);
        }

        return commands;
    }

    private Observation Observation() => new(1, new float[8], [new byte[32 * 32 * 3], new byte[24 * 32 * 3]], _time.GetUtcNow());
}
