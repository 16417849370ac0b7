using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
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
    /// The agent's way to its gateways: one channel per address (<see cref="Create"/>), and a call moves off a gateway whose
    /// connection fails at once, to the next one, within the call's own deadline (<see cref="GatewayCallInvoker"/>). A
    /// failed gateway is left out for a back-off (<see cref="GatewayRotation"/>) instead of waiting for the HTTP/2
    /// connection's own reconnect to say so: an agent is served through a silo failure without a load balancer in front.
    /// </summary>
    /// <param name="time">The back-off's clock.</param>
    /// <param name="caFile">PEM root(s) an https:// gateway's certificate must chain to, instead of the system's trust store.</param>
    public static GatewayCallInvoker CreateInvoker(IReadOnlyList<Uri> gateways, TimeProvider time, string? caFile = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(gateways.Count);
        var channels = gateways.Select(g => Create([g], caFile)).ToList();
        return new GatewayCallInvoker([.. channels.Select(c => c.CreateCallInvoker())], time, channels);
    }

    /// <summary>
    /// Kept warm by HTTP/2 pings so a dead silo is noticed within seconds even while the arm holds and sends nothing.
    /// http:// speaks cleartext HTTP/2 (prior knowledge). Several addresses (one per silo) are balanced round-robin,
    /// and a silo that stops answering is left out until it answers again (the calls that meet the broken connection
    /// first fail: the agent uses <see cref="CreateInvoker"/>, which sends them on). More than one HTTP/2 connection may
    /// be opened, so many agents on one channel (the demo) are not capped by the server's concurrent-stream limit with
    /// their Commands streams.
    /// </summary>
    /// <param name="caFile">PEM root(s) an https:// gateway's certificate must chain to, instead of the system's trust store.</param>
    public static GrpcChannel Create(IReadOnlyList<Uri> gateways, string? caFile = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(gateways.Count);
        var handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            EnableMultipleHttp2Connections = true,
        };
        if (!string.IsNullOrEmpty(caFile))
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => ChainsTo(roots, certificate, errors);
        }

        var options = new GrpcChannelOptions { HttpHandler = handler };
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

    /// <summary>
    /// Whether the gateway's certificate is valid for the host asked for and chains to one of <paramref name="roots"/>
    /// only (not to the system's store): a private CA or a pinned self-signed certificate.
    /// </summary>
    private static bool ChainsTo(X509Certificate2Collection roots, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    /// <summary>The addresses of a comma-separated list (<c>--gateway URL[,URL...]</c>).</summary>
    public static IReadOnlyList<Uri> Addresses(string gateways) =>
        [.. gateways.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(g => new Uri(g))];
}
