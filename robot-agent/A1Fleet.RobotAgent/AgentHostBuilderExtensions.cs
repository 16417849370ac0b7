using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Hosting;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using OpenTelemetry.Metrics;

namespace A1Fleet.RobotAgent.Host;

public static class AgentHostBuilderExtensions
{
    /// <summary>
    /// The agent process: the HTTP listener and SIGUSR1 local stop (see <see cref="AgentWebExtensions"/>), a gRPC channel
    /// to the silo host's robot gateway with the robot's credential (no Orleans client: the cluster's own ports stay
    /// internal), the agent itself and its status line. Host options are validated here, before anything connects, so a
    /// bad command line fails with every problem listed.
    /// </summary>
    public static IHostApplicationBuilder AddA1FleetAgentHost(this IHostApplicationBuilder builder, IWebHostBuilder webHost)
    {
        var section = builder.Configuration.GetSection(AgentHostOptions.SectionName);
        var host = section.Get<AgentHostOptions>() ?? new AgentHostOptions();
        var validation = new AgentHostOptionsValidator().Validate(null, host);
        if (validation.Failed)
        {
            throw new OptionsValidationException(AgentHostOptions.SectionName, typeof(AgentHostOptions), validation.Failures);
        }

        builder.Services.AddOptions<AgentHostOptions>().Bind(section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AgentHostOptions>>(new AgentHostOptionsValidator());

        // First: the local stop must work while no gateway answers.
        builder.AddA1FleetAgentWeb(webHost);
        var credential = host.ResolveCredential(Environment.GetEnvironmentVariable).Credential!;
        builder.Services.AddSingleton(_ => CreateChannel(GatewayAddresses(host.Gateway), host.GatewayCaFile));
        builder.Services.AddSingleton<IChunkSourceFactory>(sp =>
            new GatewayChunkSourceFactory(sp.GetRequiredService<GrpcChannel>().CreateCallInvoker(), credential, sp.GetRequiredService<TimeProvider>()));

        builder.Services.AddA1FleetRobotAgent();
        if (!string.IsNullOrWhiteSpace(host.Tags))
        {
            var tags = host.Tags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            builder.Services.PostConfigure<AgentOptions>(o => o.Tags.AddRange(tags.Except(o.Tags)));
        }

        builder.Services.AddHostedService<AgentStatusPrinter>();
        return builder;
    }

    /// <summary>
    /// The channel to the gateway(s), kept warm by HTTP/2 pings so a dead silo is noticed within seconds even while the
    /// arm holds and sends nothing. http:// speaks cleartext HTTP/2 (prior knowledge). Several addresses (one per silo)
    /// are balanced round-robin, and a silo that stops answering is left out until it answers again: an agent is
    /// served through a silo failure without a load balancer in front.
    /// </summary>
    /// <param name="caFile">PEM root(s) the gateway's TLS certificate must chain to, instead of the system's trust store.</param>
    public static GrpcChannel CreateChannel(IReadOnlyList<Uri> gateways, string? caFile = null)
    {
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

    /// <summary>The comma-separated gateway addresses of <see cref="AgentHostOptions.Gateway"/>.</summary>
    public static IReadOnlyList<Uri> GatewayAddresses(string gateway) =>
        [.. gateway.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(g => new Uri(g))];
}
