using A1Fleet.Grains.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using StackExchange.Redis;

namespace A1Fleet.Silo.Health;

/// <summary>Ready once this silo is an active member of the cluster.</summary>
internal sealed class ClusterMembershipHealthCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {local.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {local.SiloAddress} is {status}"));
    }
}

/// <summary>Ready once a GPU silo has loaded its models and registered them with the cluster (CPU silos: always).</summary>
internal sealed class ModelsLoadedHealthCheck(ModelRegistrationStartup models, IOptions<Hosting.SiloHostOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Gpu)
        {
            return Task.FromResult(HealthCheckResult.Healthy("CPU silo: serves no models"));
        }

        if (models.Ready.IsFaulted)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("model registration failed", models.Ready.Exception));
        }

        return Task.FromResult(models.IsReady
            ? HealthCheckResult.Healthy($"serving {string.Join(", ", models.Models)}")
            : HealthCheckResult.Unhealthy("models are still loading"));
    }
}

/// <summary>
/// Ready only while Redis answers: with Redis clustering or storage, a silo whose Redis is gone cannot
/// persist an e-stop, a lease or a task, nor admit a new agent, so it must not be sent traffic. The
/// membership snapshot does not show this (it keeps the last table it read), hence a PING with a
/// short timeout on a connection of the check's own, which reconnects by itself when Redis is back.
/// </summary>
internal sealed partial class RedisHealthCheck(IOptions<Hosting.SiloHostOptions> options, ILogger<RedisHealthCheck> logger) : IHealthCheck, IAsyncDisposable
{
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private ConnectionMultiplexer? _redis;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var timeout = TimeSpan.FromMilliseconds(options.Value.RedisHealthTimeoutMs);
        try
        {
            var redis = await ConnectAsync(timeout, cancellationToken);
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(timeout, cancellationToken);
            return HealthCheckResult.Healthy($"redis answered PING in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisUnhealthy(logger, e.Message);
            return HealthCheckResult.Unhealthy($"redis did not answer PING within {timeout.TotalMilliseconds:F0} ms: {e.Message}");
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_redis is { } connected)
        {
            return connected;
        }

        await _connectGate.WaitAsync(cancellationToken);
        try
        {
            if (_redis is null)
            {
                var configuration = ConfigurationOptions.Parse(options.Value.Redis);
                // Never give up on the connection: the check must see Redis come back, not report the first failure forever.
                configuration.AbortOnConnectFail = false;
                configuration.ConnectTimeout = (int)timeout.TotalMilliseconds;
                configuration.ClientName = "a1fleet-health";
                _redis = await ConnectionMultiplexer.ConnectAsync(configuration);
            }

            return _redis;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        _connectGate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not ready: redis is unreachable ({Reason})")]
    private static partial void LogRedisUnhealthy(ILogger logger, string reason);
}

/// <summary>
/// Ready only while the membership table (Redis clustering) lists this silo as active. The local
/// snapshot keeps saying Active when the table itself was lost (a Redis that came back empty): this
/// silo then admits no new agent and no new silo, and nothing re-adds it, so it must not look ready.
/// </summary>
internal sealed class MembershipTableHealthCheck(IMembershipTable table, ILocalSiloDetails local, IOptions<Hosting.SiloHostOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var timeout = TimeSpan.FromMilliseconds(options.Value.RedisHealthTimeoutMs);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        MembershipTableData data;
        try
        {
            data = await table.ReadRowAsync(local.SiloAddress, deadline.Token).WaitAsync(timeout, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Orleans' message says why: Redis unreachable, the time-out, or a table that is gone ("version is missing").
            return HealthCheckResult.Unhealthy($"the membership table could not be read (time-out {timeout.TotalMilliseconds:F0} ms): {e.Message}");
        }

        var entry = data.Members.Select(m => m.Item1).FirstOrDefault(m => m.SiloAddress.Equals(local.SiloAddress));
        if (entry is null)
        {
            return HealthCheckResult.Unhealthy($"silo {local.SiloAddress} is missing from the membership table (was Redis emptied?): restart this silo so it joins again");
        }

        return entry.Status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"the membership table lists silo {local.SiloAddress} as active")
            : HealthCheckResult.Unhealthy($"the membership table lists silo {local.SiloAddress} as {entry.Status}");
    }
}

/// <summary>The readiness answer with each check's verdict, so an operator sees why a silo is not ready.</summary>
internal static class HealthReportWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }
}
