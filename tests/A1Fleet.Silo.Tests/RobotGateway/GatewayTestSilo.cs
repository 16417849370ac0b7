using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.RobotAgent;
using A1Fleet.RobotGateway;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// A loopback silo serving its robot gateway (cleartext HTTP/2), a raw gRPC client on it, and robot credentials issued
/// through its operator API: what every gateway test class starts from, with its own gateway settings.
/// </summary>
public sealed class GatewayTestSilo : IAsyncDisposable
{
    private GatewayTestSilo(LoopbackSilo silo, OperatorIssuedCredentials credentials)
    {
        Silo = silo;
        Credentials = credentials;
        Channel = GrpcChannel.ForAddress(silo.GatewayUrl!);
        Client = new P.RobotGateway.RobotGatewayClient(Channel);
    }

    public LoopbackSilo Silo { get; }

    public OperatorIssuedCredentials Credentials { get; }

    public GrpcChannel Channel { get; }

    public P.RobotGateway.RobotGatewayClient Client { get; }

    public IGrainFactory Grains => Silo.Services.GetRequiredService<IGrainFactory>();

    /// <param name="gatewaySettings">Command-line settings ("--A1Fleet:RobotGateway:...", "value", ...).</param>
    public static async Task<GatewayTestSilo> StartAsync(params string[] gatewaySettings)
    {
        var silo = await LoopbackSilo.StartAsync(robotGateway: true, extraArgs: gatewaySettings);
        await silo.WaitReadyAsync();
        var credentials = new OperatorIssuedCredentials();
        credentials.Use(silo);
        return new GatewayTestSilo(silo, credentials);
    }

    public static string NewRobotId() => "gw-" + Guid.NewGuid().ToString("N")[..8];

    public static Metadata Bearer(string key) => RobotGatewayMetadata.BearerHeaders(key);

    public static P.BindRequest Registration(string agentId) =>
        new AgentRegistration(agentId, Embodiment.Franka, "tiny-fm", 7, 7, ["front", "wrist"], 20, ["gateway-test"]).ToProto("");

    /// <summary>
    /// An agent for <paramref name="robotId"/> that polls often while it holds. Its request timeout is long: the silo
    /// shares this process, and a stall of the loaded test machine past the default 2 s would count as a failed request
    /// and bind again, which the tests assert never happens for a refusal.
    /// </summary>
    public static AgentOptions AgentFor(string robotId) =>
        new() { RobotId = robotId, Embodiment = Embodiment.Franka, ModelId = "tiny-fm", HoldPollSeconds = 0.1, RequestTimeoutSeconds = 30 };

    public static async Task AssertStatus(StatusCode expected, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(expected, error.StatusCode);
    }

    public static async Task WaitFor(Func<bool> condition, Func<string> failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure());
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Silo.DisposeAsync();
    }
}
