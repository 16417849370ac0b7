using System.Net;
using A1Fleet.Grains;
using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Hosting;
using A1Fleet.Silo.Api;
using A1Fleet.Silo.Health;
using A1Fleet.Silo.Security;
using A1Fleet.Silo.Compat;
using A1Fleet.Silo.RobotGateway;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Orleans.Configuration;
using StackExchange.Redis;

namespace A1Fleet.Silo.Hosting;

public static class SiloHostingExtensions
{
    /// <summary>Meters every A1Fleet process exports; the robot agent's is included for in-process fleets.</summary>
    public static readonly string[] Meters = [FleetInstruments.MeterName, "Microsoft.Orleans", "A1Fleet.RobotAgent", RobotGatewayInstruments.MeterName, CompatInstruments.MeterName];

    /// <summary>
    /// Everything a silo host needs: the Orleans silo (clustering, storage, reminders, fleet grains),
    /// OpenTelemetry metrics with a Prometheus endpoint, health checks and the operator API. Options
    /// are validated here, before Orleans starts, so a bad setting fails the start with every problem listed.
    /// </summary>
    public static WebApplicationBuilder AddA1FleetSilo(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var section = configuration.GetSection(SiloHostOptions.SectionName);
        var options = section.Get<SiloHostOptions>() ?? new SiloHostOptions();
        var validation = new SiloHostOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(SiloHostOptions.SectionName, typeof(SiloHostOptions), validation.Failures);
        }

        builder.Services.AddOptions<SiloHostOptions>().Bind(section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SiloHostOptions>, SiloHostOptionsValidator>();
        builder.UseOrleans(silo => ConfigureSilo(silo, options, configuration));

        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(Meters)
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        var health = builder.Services.AddHealthChecks()
            .AddCheck<ClusterMembershipHealthCheck>("cluster", tags: ["ready"])
            .AddCheck<ModelsLoadedHealthCheck>("models", tags: ["ready"]);
        builder.Services.AddSafetyCommands(configuration);
        builder.Services.AddSingleton<RefusedSiloDetector>();
        if (options.Clustering == "redis" || options.Storage == "redis")
        {
            // One instance for the process: it owns the connection the PINGs go over.
            builder.Services.AddSingleton<RedisHealthCheck>();
            health.AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        }

        if (options.Clustering == "redis")
        {
            health.AddCheck<MembershipTableHealthCheck>("membership-table", tags: ["ready"]);
        }

        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.AddA1FleetSecurity();
        builder.AddA1FleetRobotGateway();
        builder.AddA1FleetCompat();
        return builder;
    }

    public static WebApplication MapA1FleetEndpoints(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value;
        app.UseA1FleetRobotGatewayPort();
        app.UseA1FleetCompatPorts();
        app.UseA1FleetSecurity();
        var metrics = app.MapPrometheusScrapingEndpoint("/metrics");
        var live = app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        var ready = app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = HealthReportWriter.WriteAsync });
        if (!security.AnonymousMetrics)
        {
            metrics.RequireAuthorization(OperatorPolicies.Viewer);
        }

        if (!security.AnonymousHealth)
        {
            live.RequireAuthorization(OperatorPolicies.Viewer);
            ready.RequireAuthorization(OperatorPolicies.Viewer);
        }

        app.MapOpenApi();
        app.MapOperatorApi();
        app.MapCalibrationScheduleApi();
        app.MapSecurityApi();
        app.MapCompatApi();
        app.MapA1FleetRobotGateway();
        return app;
    }

    /// <summary>Tells <see cref="RefusedSiloDetector"/> when a silo-to-silo connection closes (a SIGKILLed silo's are reset at once).</summary>
    private static void WatchClosing(Microsoft.AspNetCore.Connections.IConnectionBuilder connection)
    {
        var detector = connection.ApplicationServices.GetRequiredService<RefusedSiloDetector>();
        connection.Use(next => async context =>
        {
            var remote = context.RemoteEndPoint;
            try
            {
                await next(context);
            }
            finally
            {
                detector.ConnectionClosed(remote);
            }
        });
    }

    private static void ConfigureSilo(ISiloBuilder silo, SiloHostOptions options, IConfiguration configuration)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // Faster than Orleans' defaults: an arm waiting on a dead silo is holding position.
            o.ProbeTimeout = TimeSpan.FromSeconds(Math.Max(1, options.DeathVoteSeconds / 2.0));
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
        });
        // A connection to another silo that closes may be its process dying: check at once whether it is gone
        // (RefusedSiloDetector), rather than after the missed probes above.
        silo.Configure<SiloConnectionOptions>(o =>
        {
            // Orleans may carry both directions over the connection either silo opened: watch both kinds.
            o.ConfigureSiloOutboundConnection(WatchClosing);
            o.ConfigureSiloInboundConnection(WatchClosing);
        });

        if (options.Clustering == "localhost")
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort,
                new IPEndPoint(IPAddress.Loopback, options.PrimarySiloPort ?? options.SiloPort), options.ServiceId, options.ClusterId);
        }
        else
        {
            silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(options.Redis));
            // Bound to the listen address (the advertised one unless configured): never every interface by default.
            var listen = IPAddress.Parse(string.IsNullOrEmpty(options.ListenAddress) ? options.AdvertisedAddress : options.ListenAddress);
            silo.ConfigureEndpoints(IPAddress.Parse(options.AdvertisedAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
            silo.Configure<EndpointOptions>(o =>
            {
                o.SiloListeningEndpoint = new IPEndPoint(listen, options.SiloPort);
                o.GatewayListeningEndpoint = new IPEndPoint(listen, options.GatewayPort);
            });
        }

        if (options.Tls.Enabled)
        {
            silo.UseTls(tls => SiloTls.Configure(tls, options.Tls));
        }

        if (options.Storage == "redis")
        {
            silo.AddRedisGrainStorage(FleetOptions.StorageName, o => o.ConfigurationOptions = ConfigurationOptions.Parse(options.Redis));
            silo.UseRedisReminderService(o => o.ConfigurationOptions = ConfigurationOptions.Parse(options.Redis));
        }
        else
        {
            silo.AddMemoryGrainStorage(FleetOptions.StorageName);
            silo.UseInMemoryReminderService();
        }

        if (options.Kubernetes)
        {
            silo.UseKubernetesHosting();
        }

        silo.AddA1Fleet(configuration, options.Gpu);
    }
}
