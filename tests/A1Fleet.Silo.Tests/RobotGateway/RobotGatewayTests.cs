using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.RobotAgent;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotGateway;
using A1Fleet.Silo.Security;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using P = A1Fleet.RobotGateway.V1;

using static A1Fleet.Silo.Tests.RobotGateway.GatewayTestSilo;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// The robot gateway on the real silo host (Kestrel, HTTP/2 on its own port) through the real gRPC client: the
/// a1-agent's chunk source, and a raw client for what a misbehaving robot would send.
/// </summary>
public sealed class RobotGatewayTests : IAsyncLifetime
{
    private const long MaxMessageBytes = 1024 * 1024;
    private GatewayTestSilo _gateway = null!;

    private IGrainFactory Grains => _gateway.Grains;

    public async Task InitializeAsync() => _gateway = await GatewayTestSilo.StartAsync("--A1Fleet:RobotGateway:StreamCheckSeconds", "0.2", "--A1Fleet:RobotGateway:MaxReceiveMessageBytes", MaxMessageBytes.ToString());

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Agent_ThroughTheGateway_ExecutesChunksAndHoldsOnAPushedEStop()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        await using var runner = new RobotAgentRunner(new GatewayChunkSourceFactory(_gateway.Channel.CreateCallInvoker(), key, TimeProvider.System),
            Options.Create(AgentFor(robotId)),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance);
        await runner.StartAsync(CancellationToken.None);
        await WaitFor(() => runner.Lease is not null, () => $"the agent did not bind: {runner.Snapshot()}");
        var robot = Grains.GetGrain<IRobotGrain>(robotId);
        await robot.AssignTask("put the cup on the coaster", "test");

        await WaitFor(() => runner.Metrics.ChunksExecuted >= 3, () => $"no chunks through the gateway: {runner.Snapshot()}");
        var status = await robot.GetStatus();
        Assert.Equal(runner.Lease!.Epoch, status.Epoch);
        Assert.True(status.Counters.Chunks >= 3);

        await robot.EStop("test");
        // Held by the push on the Commands stream (or the next hold answer): the loop reports e-stopped either way.
        await WaitFor(() => runner.Snapshot().EStopped, () => $"the e-stop did not reach the agent: {runner.Snapshot()}");
        await runner.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Agent_RefusedForNow_KeepsItsLeaseAsksAgainAfterTheHintAndIsServedOnceItFits()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        await using var runner = new RobotAgentRunner(new GatewayChunkSourceFactory(_gateway.Channel.CreateCallInvoker(), key, TimeProvider.System),
            Options.Create(AgentFor(robotId)),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance);
        await runner.StartAsync(CancellationToken.None);
        await WaitFor(() => runner.Lease is not null, () => $"the agent did not bind: {runner.Snapshot()}");
        var robot = Grains.GetGrain<IRobotGrain>(robotId);
        await robot.AssignTask("put the cup on the coaster", "test");
        await WaitFor(() => runner.Metrics.ChunksExecuted >= 2, () => $"no chunks through the gateway: {runner.Snapshot()}");
        var epoch = runner.Lease!.Epoch;

        // A budget no request can meet: every request is refused at once, none run late.
        await robot.SetLatencyBudget(0.001);
        await WaitFor(() => runner.Metrics.Refusals >= 3, () => $"no refusals reached the agent: {runner.Snapshot()}");
        var failuresWhileRefused = runner.Metrics.RequestFailures;
        var chunksWhileRefused = runner.Metrics.ChunksExecuted;
        var status = await robot.GetStatus();
        Assert.True(status.Counters.Refusals >= 3, $"the robot counted {status.Counters.Refusals} refusals");

        await robot.SetLatencyBudget(2000);
        await WaitFor(() => runner.Metrics.ChunksExecuted > chunksWhileRefused + 2, () => $"not served again after the refusals: {runner.Snapshot()}");

        // Refusals are neither failures nor lost leases: no error back-off, no rebind.
        Assert.Equal(failuresWhileRefused, runner.Metrics.RequestFailures);
        Assert.Equal(epoch, runner.Lease!.Epoch);
        Assert.Equal(1, runner.Metrics.Binds);
        await runner.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Act_ObservationAgeOutOfRange_IsInvalidNamingTheField()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        var lease = (await _gateway.Client.BindAsync(Registration("agent-age"), Bearer(key))).Lease;
        var observation = new Observation(1, new float[7], [], DateTimeOffset.UtcNow).ToProto();

        var error = await Assert.ThrowsAsync<RpcException>(async () => await _gateway.Client.ActAsync(
            new P.ActRequest { Epoch = lease.Epoch, Observation = observation, ObservationAgeMs = double.NaN }, Bearer(key)));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("observation_age_ms", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_PushedEStop_ArrivesOnTheStream()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { Epoch = lease.Epoch }, headers, cancellationToken: cancel.Token);
        await stream.ResponseHeadersAsync;

        await Grains.GetGrain<IRobotGrain>(robotId).EStop("test");

        Assert.True(await stream.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(P.RobotCommandKind.EStop, stream.ResponseStream.Current.Kind);
        Assert.Equal(lease.Epoch, stream.ResponseStream.Current.Epoch);
    }

    [Fact]
    public async Task Commands_OpenedAfterAnEStopNobodyHeard_StartsWithThatEStop()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;
        // Recorded while no stream is subscribed, as when the grain has just reactivated on another silo.
        var confirmation = await Grains.GetGrain<IRobotGrain>(robotId).EStop("test");

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { Epoch = lease.Epoch }, headers, cancellationToken: cancel.Token);
        Assert.True(await stream.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(P.RobotCommandKind.EStop, stream.ResponseStream.Current.Kind);
        Assert.Equal(confirmation.Generation, stream.ResponseStream.Current.EStopGeneration);
    }

    [Fact]
    public async Task Relay_OfThisSilo_DeliversAnEStopToTheRobotsStreamOfAnyEpochAndAResumeAtItsEpochOnly()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { Epoch = lease.Epoch }, headers, cancellationToken: cancel.Token);
        await stream.ResponseHeadersAsync;
        var silo = _gateway.Silo.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString();
        var relay = Grains.GetGrain<IRobotCommandRelayGrain>(silo);

        // A resume of the next epoch (a bind the stream has not caught up with) must not reach this stream; an e-stop must.
        Assert.False(await relay.Deliver(robotId, new RobotCommand(RobotCommandKind.Resume, null, 100, lease.Epoch + 1, 7)));
        Assert.False(await relay.Deliver(NewRobotId(), new RobotCommand(RobotCommandKind.EStop, null, 100, lease.Epoch, 7)));
        Assert.True(await relay.Deliver(robotId, new RobotCommand(RobotCommandKind.EStop, null, 100, lease.Epoch + 1, 7)));
        Assert.True(await relay.Deliver(robotId, new RobotCommand(RobotCommandKind.Resume, null, 100, lease.Epoch, 7)));

        Assert.True(await stream.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(P.RobotCommandKind.EStop, stream.ResponseStream.Current.Kind);
        Assert.Equal(lease.Epoch + 1, stream.ResponseStream.Current.Epoch);
        Assert.Equal(7, stream.ResponseStream.Current.EStopGeneration);
        Assert.True(await stream.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(P.RobotCommandKind.Resume, stream.ResponseStream.Current.Kind);
        Assert.Equal(lease.Epoch, stream.ResponseStream.Current.Epoch);
    }

    [Fact]
    public async Task Bind_EmptyRobotId_BindsTheCredentialsRobot()
    {
        var robotId = NewRobotId();
        var reply = await _gateway.Client.BindAsync(Registration("agent-1"), Bearer(await _gateway.Credentials.IssueAsync(robotId)));

        Assert.Equal(robotId, reply.Lease.RobotId);
        Assert.Equal("tiny-fm", reply.Lease.Model.ModelId);
        Assert.NotEmpty(reply.Lease.Model.Cameras);
        Assert.Equal(reply.Lease.Epoch, (await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Epoch);
    }

    [Fact]
    public async Task EveryCall_ForAnotherRobot_IsPermissionDeniedAndChangesNothing()
    {
        var mine = NewRobotId();
        var other = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(mine));
        var otherLease = (await _gateway.Client.BindAsync(Registration("agent-other"), Bearer(await _gateway.Credentials.IssueAsync(other)))).Lease;

        var bind = Registration("intruder");
        bind.RobotId = other;
        await AssertStatus(StatusCode.PermissionDenied, () => _gateway.Client.BindAsync(bind, headers).ResponseAsync);
        await AssertStatus(StatusCode.PermissionDenied, () => _gateway.Client.ActAsync(new P.ActRequest { RobotId = other, Epoch = otherLease.Epoch }, headers).ResponseAsync);
        await AssertStatus(StatusCode.PermissionDenied, () => _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = other, Epoch = otherLease.Epoch }, headers).ResponseAsync);
        await AssertStatus(StatusCode.PermissionDenied, () => _gateway.Client.ReportCountersAsync(
            new P.ReportCountersRequest { RobotId = other, Epoch = otherLease.Epoch, Counters = new P.AgentCounters() }, headers).ResponseAsync);
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { RobotId = other, Epoch = otherLease.Epoch }, headers);
        await AssertStatus(StatusCode.PermissionDenied, () => stream.ResponseStream.MoveNext());

        var status = await Grains.GetGrain<IRobotGrain>(other).GetStatus();
        Assert.Equal(otherLease.Epoch, status.Epoch);
        Assert.Equal("agent-other", status.AgentId);
    }

    [Fact]
    public async Task Calls_WithoutAValidCredential_AreUnauthenticated()
    {
        await AssertStatus(StatusCode.Unauthenticated, () => _gateway.Client.BindAsync(Registration("agent-1")).ResponseAsync);
        await AssertStatus(StatusCode.Unauthenticated, () => _gateway.Client.BindAsync(Registration("agent-1"), Bearer("a1r_not-issued")).ResponseAsync);
        await AssertStatus(StatusCode.Unauthenticated, () => _gateway.Client.BindAsync(Registration("agent-1"), new Metadata { { "authorization", "Basic abc" } }).ResponseAsync);
        await AssertStatus(StatusCode.Unauthenticated, () => _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = 1 }).ResponseAsync);
    }

    [Fact]
    public async Task Revocation_TakesEffectOnTheNextCall_AndEndsTheCommandsStream()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        var lease = (await _gateway.Client.BindAsync(Registration("agent-1"), Bearer(key))).Lease;
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { Epoch = lease.Epoch }, Bearer(key));
        await stream.ResponseHeadersAsync;
        Assert.True((await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = lease.Epoch }, Bearer(key))).Held);

        await _gateway.Credentials.RevokeAsync(key);

        await AssertStatus(StatusCode.Unauthenticated, () => _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = lease.Epoch }, Bearer(key)).ResponseAsync);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await AssertStatus(StatusCode.Unauthenticated, () => stream.ResponseStream.MoveNext(cancel.Token));
    }

    [Fact]
    public async Task Commands_WhenAnotherBindTakesTheLease_EndsWithFailedPrecondition()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var first = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;
        using var stream = _gateway.Client.Commands(new P.CommandsRequest { Epoch = first.Epoch }, headers);
        await stream.ResponseHeadersAsync;

        var second = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;

        Assert.True(second.Epoch > first.Epoch);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await AssertStatus(StatusCode.FailedPrecondition, () => stream.ResponseStream.MoveNext(cancel.Token));
        Assert.False((await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = first.Epoch }, headers)).Held);
    }

    [Fact]
    public async Task Act_BadObservationShapes_AreRefusedNamingTheField_WhileAGoodClientIsServed()
    {
        var bad = NewRobotId();
        var good = NewRobotId();
        var badHeaders = Bearer(await _gateway.Credentials.IssueAsync(bad));
        var goodHeaders = Bearer(await _gateway.Credentials.IssueAsync(good));
        var badLease = (await _gateway.Client.BindAsync(Registration("agent-bad"), badHeaders)).Lease;
        var goodLease = (await _gateway.Client.BindAsync(Registration("agent-good"), goodHeaders)).Lease;
        await Grains.GetGrain<IRobotGrain>(bad).AssignTask("wave", "test");
        await Grains.GetGrain<IRobotGrain>(good).AssignTask("wave", "test");
        var model = goodLease.Model;

        var cases = new (string Field, Action<P.Observation> Break)[]
        {
            ("observation.state", o => o.State.Add(0f)),
            ("observation.state[0]", o => o.State[0] = float.NaN),
            ("observation.images", o => o.Images.RemoveAt(o.Images.Count - 1)),
            ($"observation.images[{model.Cameras.Count - 1}]", o => o.Images[^1] = ByteString.CopyFrom(new byte[7])),
            ("observation.actions_held", o => o.ActionsHeld = -1),
            ("observation.actions_held", o => o.ActionsHeld = model.Chunk + 1),
        };
        foreach (var (field, breakIt) in cases)
        {
            var observation = GoodObservation(model);
            breakIt(observation);
            var error = await Assert.ThrowsAsync<RpcException>(() => _gateway.Client.ActAsync(new P.ActRequest { Epoch = badLease.Epoch, Observation = observation }, badHeaders).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.StartsWith(field + ":", error.Status.Detail, StringComparison.Ordinal);

            // A whole chunk still held is what an agent that asks early reports.
            var goodObservation = GoodObservation(model);
            goodObservation.ActionsHeld = model.Chunk;
            var served = await _gateway.Client.ActAsync(new P.ActRequest { Epoch = goodLease.Epoch, Observation = goodObservation }, goodHeaders);
            Assert.Equal(P.ChunkStatus.Ok, served.Status);
            Assert.Equal(served.Chunk * served.ActionDim, served.Actions.Count);
        }

        var missing = await Assert.ThrowsAsync<RpcException>(() => _gateway.Client.ActAsync(new P.ActRequest { Epoch = badLease.Epoch }, badHeaders).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.StartsWith("observation:", missing.Status.Detail, StringComparison.Ordinal);

        // Over the documented message limit: refused before it is read into memory as an observation.
        var huge = GoodObservation(model);
        huge.Images[0] = ByteString.CopyFrom(new byte[MaxMessageBytes + 1]);
        await AssertStatus(StatusCode.ResourceExhausted, () => _gateway.Client.ActAsync(new P.ActRequest { Epoch = badLease.Epoch, Observation = huge }, badHeaders).ResponseAsync);

        // Nothing of it reached the grain as a request.
        Assert.Equal(0, (await Grains.GetGrain<IRobotGrain>(bad).GetStatus()).Counters.Requests);
    }

    [Fact]
    public async Task Ports_OperatorApiIsNotOnTheGatewayPort_AndTheGatewayNotOnTheOperatorPort()
    {
        using var h2c = new HttpClient
        {
            DefaultRequestVersion = System.Net.HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var throughGateway = await h2c.GetAsync(_gateway.Silo.GatewayUrl + "/api/robots");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, throughGateway.StatusCode);
        using var http = _gateway.Silo.CreateClient(LoopbackSilo.AdminKey);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(_gateway.Silo.Url + "/api/robots")).StatusCode);

        using var operatorPort = GrpcChannel.ForAddress(_gateway.Silo.Url);
        var client = new P.RobotGateway.RobotGatewayClient(operatorPort);
        var headers = Bearer(await _gateway.Credentials.IssueAsync(NewRobotId()));
        var error = await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = 1 }, headers).ResponseAsync);
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        Assert.NotEqual(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Bind_SecondAgentWhileTheFirstHeartbeats_IsRefusedNamingTheHolder()
    {
        var robotId = NewRobotId();
        var headers = Bearer(await _gateway.Credentials.IssueAsync(robotId));
        var first = (await _gateway.Client.BindAsync(Registration("agent-1"), headers)).Lease;
        Assert.True((await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = first.Epoch }, headers)).Held);

        var error = await Assert.ThrowsAsync<RpcException>(() => _gateway.Client.BindAsync(Registration("agent-2"), headers).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var held = RobotGatewayMetadata.AsLeaseHeld(error, robotId);
        Assert.NotNull(held);
        Assert.Equal("agent-1", held.HolderAgentId);
        Assert.True((await _gateway.Client.HeartbeatAsync(new P.HeartbeatRequest { Epoch = first.Epoch }, headers)).Held);
        Assert.Equal("agent-1", (await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).AgentId);
    }

    private static P.Observation GoodObservation(P.ModelSpec model)
    {
        var observation = new P.Observation { Sequence = 1 };
        observation.State.AddRange(Enumerable.Repeat(0.1f, model.StateDim));
        foreach (var camera in model.Cameras)
        {
            observation.Images.Add(ByteString.CopyFrom(new byte[camera.Height * camera.Width * 3]));
        }

        return observation;
    }
}
