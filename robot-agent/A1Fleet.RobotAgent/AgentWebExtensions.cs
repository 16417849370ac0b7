using System.Net;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace A1Fleet.RobotAgent.Host;

/// <summary>
/// The agent's HTTP listener: Prometheus metrics, health probes and the local stop. It binds
/// <see cref="AgentHostOptions.ListenAddress"/> (127.0.0.1 unless configured), and the local stop endpoints refuse
/// any caller that is not on this machine even when the listener is bound wider.
/// </summary>
public static class AgentWebExtensions
{
    private const string ReadyTag = "ready";

    /// <summary>
    /// Listener address and port from <see cref="AgentHostOptions"/>, the readiness check, and the SIGUSR1 local stop.
    /// Call before the Orleans client is added: its start waits for a cluster, and hosted services start in order, so the
    /// signal handler must already be in place when the cluster is down.
    /// </summary>
    public static IHostApplicationBuilder AddA1FleetAgentWeb(this IHostApplicationBuilder builder, IWebHostBuilder webHost)
    {
        var host = builder.Configuration.GetSection(AgentHostOptions.SectionName).Get<AgentHostOptions>() ?? new AgentHostOptions();
        if (IPAddress.TryParse(host.ListenAddress, out var address))
        {
            webHost.ConfigureKestrel(kestrel => kestrel.Listen(address, host.MetricsPort));
        }

        // The Orleans client's start waits until a cluster answers, and by default hosted services start one after the
        // other with the web server last: the local stop endpoints would be down exactly when the cluster is.
        builder.Services.Configure<HostOptions>(o => o.ServicesStartConcurrently = true);
        builder.Services.AddHealthChecks().AddCheck<AgentReadinessCheck>("agent", tags: [ReadyTag]);
        builder.Services.AddHostedService<LocalStopSignal>();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(AgentInstruments.MeterName)
            .AddPrometheusExporter());
        return builder;
    }

    /// <summary>/metrics, /health/live, /health/ready, and the loopback-only POST /local/estop and POST /local/resume.</summary>
    public static IEndpointRouteBuilder MapA1FleetAgentEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPrometheusScrapingEndpoint("/metrics");

        // Live: the process answers. Ready: bound to its robot and ticking (see RobotAgentRunner.IsReady).
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag) });

        var local = endpoints.MapGroup("/local").AddEndpointFilter<LoopbackOnlyFilter>();
        local.MapPost("/estop", (RobotAgentRunner runner) =>
        {
            runner.LocalStop.Engage("http");
            return Results.Ok(LocalStopState.Of(runner));
        });
        local.MapPost("/resume", (RobotAgentRunner runner) =>
        {
            runner.LocalStop.Release();
            return Results.Ok(LocalStopState.Of(runner));
        });
        local.MapGet("/status", (RobotAgentRunner runner) => Results.Ok(LocalStopState.Of(runner)));
        return endpoints;
    }
}

/// <summary>
/// What /local/* answer: the local latch, the fleet's latch (with when it was set, this machine's clock) and the phase,
/// so the caller sees the arm's state at once; chunks executed, failed requests and the driver's limit violations let a
/// local checker (the reliability bench) see whether the arm is served and kept within its limits; the route says how the
/// e-stop that set the latch reached the agent ("pushed", "bind" or "reply").
/// </summary>
public sealed record LocalStopState(string RobotId, bool LocalStop, string? LocalStopSource, bool EStopped, long EStopGeneration, string Phase, long LocalStops,
    DateTimeOffset? EStopLatchedAt = null, long ChunksExecuted = 0, long Requests = 0, long RequestFailures = 0, long DriverLimitViolations = 0, string? EStopRoute = null)
{
    public static LocalStopState Of(RobotAgentRunner runner)
    {
        var snapshot = runner.Snapshot();
        return new LocalStopState(snapshot.RobotId, runner.LocalStop.Engaged, runner.LocalStop.Source, snapshot.EStopped, snapshot.EStopGeneration,
            snapshot.Phase.ToString(), snapshot.LocalStops, snapshot.EStopLatchedAt, snapshot.ChunksExecuted, snapshot.Requests, snapshot.RequestFailures,
            snapshot.DriverLimitViolations, snapshot.EStopRoute);
    }
}

/// <summary>
/// Refuses /local/* to any caller not on this machine (403 with a problem body), whatever address the listener is bound
/// to. The connection's own address decides; forwarded-for headers are not consulted, so a proxy cannot vouch for anyone.
/// </summary>
public sealed class LoopbackOnlyFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var remote = context.HttpContext.Connection.RemoteIpAddress;
        if (remote is null || !IPAddress.IsLoopback(remote))
        {
            return ValueTask.FromResult<object?>(Results.Problem(
                title: "Local stop endpoints answer loopback callers only",
                detail: $"{context.HttpContext.Request.Path} was called from {remote?.ToString() ?? "an unknown address"}; call it on the arm's machine (http://127.0.0.1:PORT).",
                statusCode: StatusCodes.Status403Forbidden));
        }

        return next(context);
    }
}

/// <summary>Ready when the agent is bound to its robot and its control loop is ticking.</summary>
public sealed class AgentReadinessCheck(RobotAgentRunner runner) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(runner.IsReady
            ? HealthCheckResult.Healthy($"{runner.RobotId} bound and ticking")
            : HealthCheckResult.Unhealthy($"{runner.RobotId}: {runner.Snapshot().Phase} (not bound to the robot, or the control loop is not ticking)"));
}
