using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>
/// The per-robot request rate at the gateway: one token bucket per robot (the credential's, never the request's),
/// <see cref="RobotGatewayOptions.RequestsPerSecond"/> sustained with <see cref="RobotGatewayOptions.RequestBurst"/>
/// at once. Nothing queues: a call over the rate is refused at once with how long until a token is back, so a flooding
/// robot costs the fleet one bucket check per call and other robots are served meanwhile.
/// <para>Buckets of robots that went quiet are dropped by the partitioned limiter itself, so memory follows the robots
/// that are calling, not every robot that ever did.</para>
/// </summary>
public sealed class RobotRateLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public RobotRateLimits(IOptions<RobotGatewayOptions> options)
    {
        var o = options.Value;
        RequestsPerSecond = o.RequestsPerSecond;
        Burst = o.RequestBurst;
        _limiter = PartitionedRateLimiter.Create<string, string>(robotId => RateLimitPartition.GetTokenBucketLimiter(robotId, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.RequestBurst,
            TokensPerPeriod = o.RequestsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    public int RequestsPerSecond { get; }

    public int Burst { get; }

    /// <summary>Null when <paramref name="robotId"/> may make this call; else how long until it may (at least a millisecond).</summary>
    public TimeSpan? TryAdmit(string robotId)
    {
        using var lease = _limiter.AttemptAcquire(robotId);
        if (lease.IsAcquired)
        {
            return null;
        }

        var after = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1.0 / RequestsPerSecond);
        return after < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : after;
    }

    public void Dispose() => _limiter.Dispose();
}
