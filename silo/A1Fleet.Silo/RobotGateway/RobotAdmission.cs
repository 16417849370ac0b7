using A1Fleet.Silo.Security;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>Why a robot request was refused at the door.</summary>
public enum AdmissionRefusal
{
    /// <summary>No, unknown or revoked credential, or no credential store on this silo.</summary>
    Unauthenticated,

    /// <summary>Over the robot's request rate; <see cref="Admission.RetryAfter"/> says when to call again.</summary>
    RateLimited,
}

/// <summary>The credential's robot, or why the request is refused (a message for the client, never a stack trace).</summary>
public sealed record Admission(string? RobotId, string? CredentialId, AdmissionRefusal? Refusal, string? Message, TimeSpan? RetryAfter = null)
{
    public bool Admitted => Refusal is null;
}

/// <summary>
/// What every robot request passes before any grain is asked, whichever protocol it came in: the robot credential
/// (checked on every request, so a revocation holds from the next one) selects the robot, then the robot's request
/// rate (<see cref="RobotRateLimits"/>, one bucket per robot across the gateway and the compatible endpoints).
/// A silo without a credential store refuses every robot (fail closed).
/// </summary>
public sealed class RobotAdmission(IServiceProvider services, RobotRateLimits rateLimits)
{
    private readonly IRobotCredentialValidator? _credentials = services.GetService<IRobotCredentialValidator>();

    public async Task<Admission> AdmitAsync(string? key, string noKeyHint, CancellationToken cancellationToken)
    {
        var identified = await IdentifyAsync(key, noKeyHint, cancellationToken);
        return identified.Admitted ? Limit(identified) : identified;
    }

    /// <summary>The credential alone (no rate taken): for callers with a check of their own between the two.</summary>
    public async Task<Admission> IdentifyAsync(string? key, string noKeyHint, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(key))
        {
            return new Admission(null, null, AdmissionRefusal.Unauthenticated, $"no robot credential: {noKeyHint}");
        }

        if (_credentials is null)
        {
            return new Admission(null, null, AdmissionRefusal.Unauthenticated, "this silo has no robot credential store configured; every robot call is refused");
        }

        var identity = await _credentials.ValidateAsync(key, cancellationToken);
        return identity is null
            ? new Admission(null, null, AdmissionRefusal.Unauthenticated, "the robot credential is unknown or revoked")
            : new Admission(identity.RobotId, identity.CredentialId, null, null);
    }

    /// <summary>Takes one request of an identified robot's rate, or refuses it with when to call again.</summary>
    public Admission Limit(Admission identified)
    {
        var robotId = identified.RobotId!;
        return rateLimits.TryAdmit(robotId) is { } retryAfter
            ? identified with
            {
                Refusal = AdmissionRefusal.RateLimited,
                RetryAfter = retryAfter,
                Message = $"robot '{robotId}' called more than {rateLimits.RequestsPerSecond} times per second (burst {rateLimits.Burst}): " +
                    $"retry after {retryAfter.TotalMilliseconds:0} ms (A1Fleet:RobotGateway:RequestsPerSecond, RequestBurst)",
            }
            : identified;
    }
}
