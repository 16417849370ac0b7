using System.Security.Claims;
using System.Text.Encodings.Web;
using A1Fleet.Grains;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace A1Fleet.Silo.Security;

/// <summary>
/// Operator API keys: <c>Authorization: Bearer a1k_...</c> or <c>X-Api-Key: a1k_...</c>. Every request asks the
/// key's grain (nothing is cached here), so a revoked key is refused from the next request on. Refusals answer
/// RFC 9457 problem details: 401 without a valid key, 403 with a key whose role is too low.
/// </summary>
public sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IGrainFactory grains,
    IOptions<SecurityOptions> security,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    private const string FailureKey = "a1.auth.failure";
    private const string UnavailableKey = "a1.auth.unavailable";
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey(Request);
        // A robot credential (the robot gateway's bearer token) is no operator identity: robot-facing endpoints check
        // it with IRobotCredentialValidator. Answering "no key" here keeps those calls out of the refusal log.
        if (presented is null || presented.StartsWith(CredentialKeys.RobotPrefix + "_", StringComparison.Ordinal))
        {
            return AuthenticateResult.NoResult();
        }

        if (!CredentialKeys.TryParse(presented, CredentialKind.ApiKey, out var id, out var hash))
        {
            return Fail("the API key is malformed: operator keys read a1k_<id>_<secret>");
        }

        CredentialInfo? info;
        try
        {
            info = await VerifyAsync(id, hash);
        }
        catch (OrleansMessageRejectionException e)
        {
            Context.Items[UnavailableKey] = $"API key {id} could not be checked: the fleet is failing over ({e.Message}); retry";
            return AuthenticateResult.Fail("the API key could not be checked");
        }

        if (info is not { Kind: CredentialKind.ApiKey, Role: { } role })
        {
            return Fail($"API key {id} is unknown or revoked");
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, info.Id),
                new Claim(ClaimTypes.Name, info.Name),
                new Claim(ClaimTypes.Role, OperatorPolicies.RoleName(role)),
            ],
            SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    /// <summary>
    /// Asks the key's grain, retrying while Orleans rejects the call because the grain's silo just died (see
    /// <see cref="SecurityOptions.KeyCheckRetryTimeout"/>); the last rejection escapes once the timeout would pass.
    /// </summary>
    private async Task<CredentialInfo?> VerifyAsync(string id, byte[] hash)
    {
        var until = time.GetUtcNow() + security.Value.KeyCheckRetryTimeout;
        for (var delay = FirstRetryDelay; ; delay = delay * 2 < MaxRetryDelay ? delay * 2 : MaxRetryDelay)
        {
            try
            {
                return await grains.GetGrain<ICredentialGrain>(id).Verify(hash);
            }
            catch (OrleansMessageRejectionException e) when (time.GetUtcNow() + delay < until && !Context.RequestAborted.IsCancellationRequested)
            {
                LogKeyCheckRetry(Logger, id, delay.TotalMilliseconds, e.Message);
            }

            await Task.Delay(delay, time, Context.RequestAborted);
        }
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items[UnavailableKey] is string unavailable)
        {
            Response.Headers.RetryAfter = "1";
            return WriteProblem(StatusCodes.Status503ServiceUnavailable, "Service Unavailable", unavailable);
        }

        var detail = Context.Items[FailureKey] as string
                     ?? $"this endpoint needs an API key: send 'Authorization: Bearer a1k_...' or '{HeaderName}: a1k_...' (a1ctl: --api-key or A1FLEET_API_KEY)";
        return WriteProblem(StatusCodes.Status401Unauthorized, "Unauthorized", detail);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = Context.User.FindFirstValue(ClaimTypes.Role) ?? "none";
        return WriteProblem(StatusCodes.Status403Forbidden, "Forbidden",
            $"API key {Context.User.FindFirstValue(ClaimTypes.NameIdentifier)} has role '{role}', which may not {Request.Method} {Request.Path}");
    }

    /// <summary>The key a request presents, from either header; null when it presents none.</summary>
    public static string? PresentedKey(HttpRequest request)
    {
        if (request.Headers.Authorization.ToString() is { Length: > 0 } authorization)
        {
            return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : authorization.Trim();
        }

        return request.Headers[HeaderName].ToString() is { Length: > 0 } header ? header.Trim() : null;
    }

    private AuthenticateResult Fail(string reason)
    {
        Context.Items[FailureKey] = reason;
        LogRefused(Logger, Request.Method, Request.Path, reason);
        return AuthenticateResult.Fail(reason);
    }

    private async Task WriteProblem(int status, string title, string detail)
    {
        Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            Response.Headers.WWWAuthenticate = "Bearer";
        }

        var problems = Context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    [LoggerMessage(EventId = 710, Level = LogLevel.Warning, Message = "Refused {Method} {Path}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string method, string path, string reason);

    [LoggerMessage(EventId = 719, Level = LogLevel.Warning, Message = "API key {KeyId} could not be checked (its grain's silo is failing over); retrying in {DelayMs} ms: {Reason}")]
    private static partial void LogKeyCheckRetry(ILogger logger, string keyId, double delayMs, string reason);
}

/// <summary>The roles as authorization policies: each endpoint names the least role it needs.</summary>
public static class OperatorPolicies
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    public static string RoleName(OperatorRole role) => role switch
    {
        OperatorRole.Admin => Admin,
        OperatorRole.Operator => Operator,
        _ => Viewer,
    };

    public static bool TryParseRole(string? text, out OperatorRole role)
    {
        role = OperatorRole.Viewer;
        switch (text?.ToLowerInvariant())
        {
            case Viewer: return true;
            case Operator: role = OperatorRole.Operator; return true;
            case Admin: role = OperatorRole.Admin; return true;
            default: return false;
        }
    }

    /// <summary>Who acts, as the grains record it (e-stopped by, assigned by): the key's name and id, never a free-text field of the request.</summary>
    public static string ActingAs(this ClaimsPrincipal user) =>
        $"{user.FindFirstValue(ClaimTypes.Name) ?? "anonymous"} ({user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "no key"})";
}
