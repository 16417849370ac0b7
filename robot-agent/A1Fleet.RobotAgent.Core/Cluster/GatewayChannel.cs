using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>The gRPC channel to the robot gateway(s) that <see cref="GatewayChunkSourceFactory"/> calls through: the a1-agent's and the demo's.</summary>
public static class GatewayChannel
{
    /// <summary>
    /// Kept warm by HTTP/2 pings so a dead silo is noticed within seconds even while the arm holds and sends nothing.
    /// http:// speaks cleartext HTTP/2 (prior knowledge). Several addresses (one per silo) are balanced round-robin,
    /// and a silo that stops answering is left out until it answers again: an agent is served through a silo failure
    /// without a load balancer in front. More than one HTTP/2 connection may be opened, so many agents on one channel
    /// (the demo) are not capped by the server's concurrent-stream limit with their Commands streams.
    /// </summary>
    public static GrpcChannel Create(IReadOnlyList<Uri> gateways)
    {
        ArgumentOutOfRangeException.ThrowIfZero(gateways.Count);
        var options = new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                ConnectTimeout = TimeSpan.FromSeconds(5),
                EnableMultipleHttp2Connections = true,
            },
        };
        if (gateways.Count == 1)
        {
            return GrpcChannel.ForAddress(gateways[0], options);
        }

        var secure = gateways[0].Scheme == "https";
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => [.. gateways.Select(g => new BalancerAddress(g.Host, g.Port))]));
        options.ServiceProvider = services.BuildServiceProvider();
        options.Credentials = secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        options.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        return GrpcChannel.ForAddress("static:///robot-gateway", options);
    }

    /// <summary>The addresses of a comma-separated list (<c>--gateway URL[,URL...]</c>).</summary>
    public static IReadOnlyList<Uri> Addresses(string gateways) =>
        [.. gateways.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(g => new Uri(g))];
}
