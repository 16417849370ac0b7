using System.Globalization;
using A1Fleet.Grains;
using Grpc.Core;

namespace A1Fleet.RobotGateway;

/// <summary>Header and trailer names of the gateway protocol, and the errors both ends must read the same way.</summary>
public static class RobotGatewayMetadata
{
    /// <summary>gRPC metadata keys are lower case.</summary>
    public const string Authorization = "authorization";

    public const string BearerPrefix = "Bearer ";

    /// <summary>On a refused bind: the agent id holding the lease.</summary>
    public const string LeaseHolderTrailer = "a1-lease-holder";

    /// <summary>On a refused bind: when the holder's lease expires unless it heartbeats (ISO 8601).</summary>
    public const string LeaseExpiresTrailer = "a1-lease-expires-at";

    /// <summary>On a call refused for the robot's request rate: milliseconds until the robot may call again.</summary>
    public const string RetryAfterTrailer = "a1-retry-after-ms";

    public static Metadata BearerHeaders(string credential) => new() { { Authorization, BearerPrefix + credential } };

    /// <summary>The key of an <c>authorization: Bearer KEY</c> header, or null when there is none.</summary>
    public static string? BearerKey(Metadata headers)
    {
        var value = headers.GetValue(Authorization);
        if (value is null || !value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var key = value[BearerPrefix.Length..].Trim();
        return key.Length == 0 ? null : key;
    }

    /// <summary>A bind refused because another live agent holds the robot: FAILED_PRECONDITION with the holder in trailers.</summary>
    public static RpcException LeaseHeld(LeaseHeldException held) => new(new Status(StatusCode.FailedPrecondition, held.Message),
        new Metadata
        {
            { LeaseHolderTrailer, held.HolderAgentId },
            { LeaseExpiresTrailer, held.ExpiresAt.ToString("O", CultureInfo.InvariantCulture) },
        });

    /// <summary>The <see cref="LeaseHeldException"/> a gateway error stands for, or null when it is another error.</summary>
    public static LeaseHeldException? AsLeaseHeld(RpcException error, string robotId)
    {
        if (error.StatusCode != StatusCode.FailedPrecondition || error.Trailers.GetValue(LeaseHolderTrailer) is not { } holder)
        {
            return null;
        }

        var expires = DateTimeOffset.TryParse(error.Trailers.GetValue(LeaseExpiresTrailer), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at)
            ? at : DateTimeOffset.MinValue;
        return new LeaseHeldException(robotId, holder, expires);
    }

    /// <summary>A call over the robot's request rate: RESOURCE_EXHAUSTED with the wait in the trailer <see cref="RetryAfterTrailer"/>.</summary>
    public static RpcException RateLimited(string detail, TimeSpan retryAfter) => new(new Status(StatusCode.ResourceExhausted, detail),
        new Metadata { { RetryAfterTrailer, Math.Ceiling(retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) } });

    /// <summary>
    /// How long the gateway asked the robot to wait (a refusal for its request rate), or null for any other error.
    /// RESOURCE_EXHAUSTED without the trailer (a message over the size limit) is not a matter of waiting.
    /// </summary>
    public static TimeSpan? RetryAfter(RpcException error) =>
        error.StatusCode == StatusCode.ResourceExhausted
        && double.TryParse(error.Trailers.GetValue(RetryAfterTrailer), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && double.IsFinite(ms) && ms >= 0
            ? TimeSpan.FromMilliseconds(ms)
            : null;
}
