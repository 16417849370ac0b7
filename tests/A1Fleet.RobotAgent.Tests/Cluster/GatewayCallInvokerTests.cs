using System.Net;
using System.Net.Sockets;
using A1Fleet.RobotAgent.Cluster;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.RobotAgent.Tests.Cluster;

/// <summary>
/// The dead gateway is real: a channel to a loopback port nothing listens on (connection refused, as after a silo's
/// SIGKILL). The live one is an invoker that answers every heartbeat: the gateway service itself is tested in the silo's tests.
/// </summary>
public sealed class GatewayCallInvokerTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly GrpcChannel _dead = GrpcChannel.ForAddress($"http://127.0.0.1:{ClosedPort()}");
    private readonly AnsweringInvoker _live = new();

    public void Dispose() => _dead.Dispose();

    [Fact]
    public async Task AsyncUnaryCall_FirstGatewayRefusesConnection_AnsweredByTheNextAtOnceAndTheDeadOneMarked()
    {
        using var invoker = new GatewayCallInvoker([_dead.CreateCallInvoker(), _live], _time);
        var client = new P.RobotGateway.RobotGatewayClient(invoker);

        var reply = await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1", Epoch = 3 }, deadline: DateTime.UtcNow.AddSeconds(30));

        Assert.True(reply.Held);
        Assert.Equal(1, _live.Calls);
        Assert.Equal(1, invoker.Failovers);
        Assert.True(invoker.Rotation.IsBad(0));
    }

    [Fact]
    public async Task AsyncUnaryCall_DeadGatewayMarked_NextCallsGoStraightToTheLiveOneUntilTheBackoffEnds()
    {
        using var invoker = new GatewayCallInvoker([_dead.CreateCallInvoker(), _live], _time);
        var client = new P.RobotGateway.RobotGatewayClient(invoker);
        await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" });

        for (var i = 0; i < 4; i++)
        {
            await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" });
        }

        Assert.Equal(1, invoker.Failovers);
        Assert.Equal(5, _live.Calls);

        // Past the back-off the dead one is tried again by a real call, fails at once and is marked afresh (twice as long).
        _time.Advance(GatewayRotation.MinBackoff);
        await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" });
        await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" });
        Assert.Equal(2, invoker.Failovers);
        Assert.Equal(7, _live.Calls);
        _time.Advance(GatewayRotation.MinBackoff);
        Assert.True(invoker.Rotation.IsBad(0));
    }

    [Fact]
    public async Task AsyncUnaryCall_OnlyGatewayRefusesConnection_FailsUnavailable()
    {
        using var invoker = new GatewayCallInvoker([_dead.CreateCallInvoker()], _time);
        var client = new P.RobotGateway.RobotGatewayClient(invoker);

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" }));

        Assert.True(GatewayCallInvoker.IsConnectionFailure(ex));
        Assert.True(invoker.Rotation.IsBad(0));
    }

    [Fact]
    public async Task AsyncUnaryCall_GatewayAnswersUnavailable_NotMarkedAndNotSentElsewhere()
    {
        var refusing = new AnsweringInvoker { Answer = new RpcException(new Status(StatusCode.Unavailable, "Heartbeat: the fleet could not answer")) };
        using var invoker = new GatewayCallInvoker([refusing, _live], _time);
        var client = new P.RobotGateway.RobotGatewayClient(invoker);

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" }));

        Assert.False(GatewayCallInvoker.IsConnectionFailure(ex));
        Assert.Equal(0, _live.Calls);
        Assert.False(invoker.Rotation.IsBad(0));
    }

    [Fact]
    public async Task AsyncUnaryCall_PastItsDeadline_NotSentAgain()
    {
        using var invoker = new GatewayCallInvoker([_dead.CreateCallInvoker(), _live], _time);
        var client = new P.RobotGateway.RobotGatewayClient(invoker);

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = "arm-1" }, deadline: DateTime.UtcNow.AddSeconds(-1)));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.Equal(0, _live.Calls);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>A gateway that answers every heartbeat as held (or with <see cref="Answer"/>), counting the calls.</summary>
    private sealed class AnsweringInvoker : CallInvoker
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public RpcException? Answer { get; init; }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
        {
            Interlocked.Increment(ref _calls);
            var response = Answer is { } error ? Task.FromException<TResponse>(error) : Task.FromResult((TResponse)(object)new P.HeartbeatReply { Held = true });
            return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options,
            TRequest request) => throw new NotSupportedException();

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host,
            CallOptions options) => throw new NotSupportedException();

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host,
            CallOptions options) => throw new NotSupportedException();
    }
}
