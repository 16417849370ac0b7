using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Hosting;
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
        builder.Services.AddSingleton(sp => CreateInvoker(GatewayAddresses(host.Gateway), sp.GetRequiredService<TimeProvider>(), host.GatewayCaFile));
        builder.Services.AddSingleton<IChunkSourceFactory>(sp =>
            new GatewayChunkSourceFactory(sp.GetRequiredService<GatewayCallInvoker>(), credential, sp.GetRequiredService<TimeProvider>()));

        builder.Services.AddA1FleetRobotAgent();
        if (!string.IsNullOrWhiteSpace(host.Tags))
        {
            var tags = host.Tags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            builder.Services.PostConfigure<AgentOptions>(o => o.Tags.AddRange(tags.Except(o.Tags)));
        }

        builder.Services.AddHostedService<AgentStatusPrinter>();
        return builder;
    }

    /// <summary>The calls to the gateway(s), moving off a failed one at once: see <see cref="GatewayChannel.CreateInvoker"/>.</summary>
    public static GatewayCallInvoker CreateInvoker(IReadOnlyList<Uri> gateways, TimeProvider time, string? caFile = null) => GatewayChannel.CreateInvoker(gateways, time, caFile);

    /// <summary>The comma-separated gateway addresses of <see cref="AgentHostOptions.Gateway"/>.</summary>
    public static IReadOnlyList<Uri> GatewayAddresses(string gateway) => GatewayChannel.Addresses(gateway);
}
