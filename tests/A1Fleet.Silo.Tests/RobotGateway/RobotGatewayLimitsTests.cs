using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.RobotAgent;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotGateway;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P = A1Fleet.RobotGateway.V1;

using static A1Fleet.Silo.Tests.RobotGateway.GatewayTestSilo;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// The gateway's per-robot request rate on the real silo host, with a rate far below the default so that a flood is
/// a few dozen calls: 2 calls per second per robot, 4 at once.
/// </summary>
public sealed class RobotGatewayLimitsTests : IAsyncLifetime
{
    private const int RequestsPerSecond = 2;
    private const int Burst = 4;
    private GatewayTestSilo _gateway = null!;

    private IGrainFactory Grains => _gateway.Grains;

    public async Task InitializeAsync() => _gateway = await GatewayTestSilo.StartAsync("--A1Fleet:RobotGateway:RequestsPerSecond", RequestsPerSecond.ToString(), "--A1Fleet:RobotGateway:RequestBurst", Burst.ToString());

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Calls_FloodFromOneRobot_AreResourceExhaustedWithARetryHint_WhileAnotherRobotIsServed()
    {
        var flooder = NewRobotId();
        var other = NewRobotId();
        var flooderHeaders = Bearer(await _gateway.Credentials.IssueAsync(flooder));
        var otherHeaders = Bearer(await _gateway.Credentials.IssueAsync(other));
        var flooderLease = (await _gateway.Client.BindAsync(Registration("agent-flood"), flooderHeaders)).Lease;
        var otherLease = (await _gateway.Client.BindAsync(Registration("agent-other"), otherHeaders)).Lease;

        // Far more calls than the bucket holds: at 2 per second, only a flood lasting over 20 s could be served whole.
        var refusals = new List<RpcException>();
        for (var i = 0; i < 50; i++)
        {
            try
            {
                await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = flooderLease.Epoch }, flooderHeaders);
            }
            catch (RpcException ex)
            {
                refusals.Add(ex);
            }
        }

        Assert.NotEmpty(refusals);
        Assert.All(refusals, ex =>
        {
            Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
            Assert.Contains(flooder, ex.Status.Detail, StringComparison.Ordinal);
            var after = RobotGatewayMetadata.RetryAfter(ex);
            Assert.NotNull(after);
            Assert.True(after > TimeSpan.Zero, $"retry hint {after}");
        });

        // The other robot's bucket is its own: served between two refusals of the flooder. The flooder's bucket gets
        // 2 tokens back every second, so on a slow machine a refill can fall between the calls of one round; the
        // flooder's calls spend those tokens again, and the next round starts from an empty bucket.
        var servedBetweenRefusals = false;
        for (var round = 0; round < 10 && !servedBetweenRefusals; round++)
        {
            if (!await IsRefused(flooderLease.Epoch, flooderHeaders))
            {
                continue;
            }

            Assert.True((await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = otherLease.Epoch }, otherHeaders)).Held);
            servedBetweenRefusals = await IsRefused(flooderLease.Epoch, flooderHeaders);
        }

        Assert.True(servedBetweenRefusals, "in 10 rounds the other robot was never served between two refusals of the flooder");

        // Refused calls changed nothing: the flooder still holds its robot at the same epoch.
        Assert.Equal(flooderLease.Epoch, (await Grains.GetGrain<IRobotGrain>(flooder).GetStatus()).Epoch);
    }

    private async Task<bool> IsRefused(long epoch, Metadata headers)
    {
        try
        {
            await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = epoch }, headers);
            return false;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
        {
            return true;
        }
    }

    [Fact]
    public async Task Agent_OverItsRequestRate_HoldsAndAsksAgainLater_KeepingItsLease()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        await using var runner = new RobotAgentRunner(new GatewayChunkSourceFactory(_gateway.Channel.CreateCallInvoker(), key, TimeProvider.System),
            Options.Create(AgentFor(robotId)),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance);
        await runner.StartAsync(CancellationToken.None);
        await WaitFor(() => runner.Lease is not null, () => $"the agent did not bind: {runner.Snapshot()}");
        await Grains.GetGrain<IRobotGrain>(robotId).AssignTask("put the cup on the coaster", "test");

        // A 20 Hz arm polling every 0.1 s and asking for every chunk needs more than 2 calls per second: it is refused.
        await WaitFor(() => runner.Metrics.LastError?.Contains("times per second", StringComparison.Ordinal) == true,
            () => $"the agent was never refused for its rate: {runner.Snapshot()}");
        var executed = runner.Metrics.ChunksExecuted;
        await WaitFor(() => runner.Metrics.ChunksExecuted > executed && runner.Metrics.RequestFailures >= 3,
            () => $"the agent stopped being served after a refusal: {runner.Snapshot()}");

        // A refusal for the rate is not a lost lease: the agent never bound again, and still holds the robot.
        Assert.Equal(1L, runner.Metrics.Binds);
        Assert.Equal(runner.Lease!.Epoch, (await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Epoch);
        Assert.NotEqual(AgentPhase.Stopped, runner.Snapshot().Phase);
        await runner.StopAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-1.0)]
    public async Task ReportCounters_NonFiniteOrNegativeJump_IsInvalidArgumentNamingTheField(double jump)
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;

        var error = await Assert.ThrowsAsync<RpcException>(() => _gateway.Client.ReportCountersAsync(
            new P.ReportCountersRequest { Epoch = lease.Epoch, Counters = new P.AgentCounters { ControlTicks = 10, MaxSpliceJump = jump } }, headers).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("counters.max_splice_jump:", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("counters.max_splice_jump", error.Trailers.GetValue("a1-field"));
        await _gateway.Client.ReportCountersAsync(new P.ReportCountersRequest { Epoch = lease.Epoch, Counters = new P.AgentCounters { ControlTicks = 10, MaxSpliceJump = 0.5 } }, headers);
    }

    [Fact]
    public async Task ReportCounters_MoreSuccessesThanEpisodes_IsInvalidArgumentAndAValidReportReachesTheRobot()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;

        var error = await Assert.ThrowsAsync<RpcException>(() => _gateway.Client.ReportCountersAsync(
            new P.ReportCountersRequest { Epoch = lease.Epoch, Counters = new P.AgentCounters { ControlTicks = 10, Episodes = 2, Successes = 3 } }, headers).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("counters.successes", error.Trailers.GetValue("a1-field"));
        await _gateway.Client.ReportCountersAsync(new P.ReportCountersRequest { Epoch = lease.Epoch, Counters = new P.AgentCounters { ControlTicks = 10, Episodes = 5, Successes = 2 } }, headers);
        var counters = (await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Counters;
        Assert.Equal((5L, 2L, (double?)0.4), (counters.Episodes, counters.Successes, counters.SuccessRate));
    }
}
