using A1Fleet.RobotAgent.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using OpenTelemetry.Metrics;
using Orleans.Configuration;

namespace A1Fleet.RobotAgent.Host;

public static partial class AgentHostBuilderExtensions
{
    /// <summary>
    /// The agent process: the HTTP listener and SIGUSR1 local stop (see <see cref="AgentWebExtensions"/>), an Orleans
    /// client (localhost or Redis clustering, retrying until a gateway answers), the agent itself and its status line. Host options are validated here, before Orleans is configured,
    /// so a bad command line fails with every problem listed.
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
        builder.Services.AddSingleton<IValidateOptions<AgentHostOptions>, AgentHostOptionsValidator>();

        // Before the Orleans client, whose start waits for a cluster: the local stop must work while it is down.
        builder.AddA1FleetAgentWeb(webHost);
        builder.UseOrleansClient(client =>
        {
            if (host.Clustering == "redis")
            {
                client.UseRedisClustering(host.Redis);
            }
            else
            {
                client.UseLocalhostClustering(host.GatewayPort, host.ServiceId, host.ClusterId);
            }

            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = host.ClusterId;
                o.ServiceId = host.ServiceId;
            });

            // An arm's agent may start before the cluster; it waits (holding) rather than exiting.
            client.UseConnectionRetryFilter(RetryUntilStopped);
        });

        builder.Services.AddA1FleetRobotAgent();
        if (!string.IsNullOrWhiteSpace(host.Tags))
        {
            var tags = host.Tags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            builder.Services.PostConfigure<AgentOptions>(o => o.Tags.AddRange(tags.Except(o.Tags)));
        }

        builder.Services.AddHostedService<AgentStatusPrinter>();
        return builder;
    }

    private static async Task<bool> RetryUntilStopped(Exception exception, CancellationToken cancellationToken)
    {
        await Console.Error.WriteLineAsync($"cluster not reachable yet ({exception.GetBaseException().Message}); retrying in 2 s");
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        return true;
    }
}
