using System.Security.Claims;
using A1Fleet.Api.Contracts;
using A1Fleet.Grains;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace A1Fleet.Silo.Api;

/// <summary>Operator API keys (admin), robot credentials (operator) and the audit log (admin).</summary>
public static class SecurityApi
{
    /// <summary>Most audit entries one GET returns.</summary>
    public const int MaxAuditLimit = 1000;

    public static IEndpointRouteBuilder MapSecurityApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/api/keys").WithTags("security").RequireAuthorization(OperatorPolicies.Admin);
        keys.MapPost("", CreateKey).WithSummary("Create an operator API key (name, role viewer|operator|admin); the key is returned once");
        keys.MapGet("", (IGrainFactory g) => Directory(g).List(CredentialKind.ApiKey, null)).WithSummary("Operator API keys, never their secrets");
        keys.MapDelete("/{keyId}", RevokeKey).WithSummary("Revoke an API key from its next request on");

        var robots = app.MapGroup("/api/robots/{robotId}/credentials").WithTags("security").RequireAuthorization(OperatorPolicies.Operator);
        robots.MapPost("", IssueRobotCredential).WithSummary("Issue a credential for one robot (a1r_...); returned once; it speaks only for this robot");
        robots.MapGet("", (string robotId, IGrainFactory g) => Directory(g).List(CredentialKind.Robot, robotId)).WithSummary("A robot's credentials, never their secrets");
        robots.MapDelete("/{credentialId}", RevokeRobotCredential).WithSummary("Revoke a robot credential from its next request on");

        app.MapGet("/api/audit", ReadAudit).WithTags("security").RequireAuthorization(OperatorPolicies.Admin)
            .WithSummary($"The audit log, newest first (since: ISO 8601 time; limit: 1..{MaxAuditLimit}, default 100)");
        return app;
    }

    private static async Task<Results<Created<CreatedCredential>, ProblemHttpResult>> CreateKey(CreateApiKeyRequest request, ClaimsPrincipal user, IGrainFactory grains, TimeProvider time)
    {
        if (InputRules.Name(request.Name, "name") is { } problem)
        {
            return BadRequest(problem);
        }

        if (!OperatorPolicies.TryParseRole(request.Role, out var role))
        {
            return BadRequest($"role '{Printable.Escape(request.Role)}' is unknown: use viewer, operator or admin");
        }

        var (id, key, hash) = CredentialKeys.Generate(CredentialKind.ApiKey);
        var info = await Directory(grains).Add(new CredentialInfo(id, CredentialKind.ApiKey, request.Name, role, null, time.GetUtcNow(), user.ActingAs()), hash);
        return TypedResults.Created($"/api/keys/{id}", new CreatedCredential(id, key, info));
    }

    private static async Task<Results<Ok<CredentialInfo>, ProblemHttpResult>> RevokeKey(string keyId, ClaimsPrincipal user, IGrainFactory grains) =>
        keyId.StartsWith(CredentialKeys.ApiKeyPrefix + "_", StringComparison.Ordinal) && keyId.Length <= InputRules.MaxIdLength
        && await Directory(grains).Revoke(keyId, user.ActingAs()) is { } revoked
            ? TypedResults.Ok(revoked)
            : NotFound($"API key '{Printable.Escape(keyId)}' does not exist");

    private static async Task<Results<Created<CreatedCredential>, ProblemHttpResult>> IssueRobotCredential(string robotId, IssueRobotCredentialRequest? request, ClaimsPrincipal user, IGrainFactory grains, TimeProvider time)
    {
        if ((InputRules.Name(robotId, "robotId") ?? (request?.Name is { } name ? InputRules.Name(name, "name") : null)) is { } problem)
        {
            return BadRequest(problem);
        }

        var created = await RobotCredentials.IssueAsync(grains, time, robotId, request?.Name, user.ActingAs());
        return TypedResults.Created($"/api/robots/{robotId}/credentials/{created.Id}", created);
    }

    private static async Task<Results<Ok<CredentialInfo>, ProblemHttpResult>> RevokeRobotCredential(string robotId, string credentialId, ClaimsPrincipal user, IGrainFactory grains)
    {
        // Revoking through another robot's path is refused: the path says which robot the operator means.
        var existing = credentialId.StartsWith(CredentialKeys.RobotPrefix + "_", StringComparison.Ordinal) && credentialId.Length <= InputRules.MaxIdLength
            ? await grains.GetGrain<ICredentialGrain>(credentialId).Get()
            : null;
        if (existing is not { Kind: CredentialKind.Robot } || existing.RobotId != robotId)
        {
            return NotFound($"robot '{Printable.Escape(robotId)}' has no credential '{Printable.Escape(credentialId)}'");
        }

        return await Directory(grains).Revoke(credentialId, user.ActingAs()) is { } revoked ? TypedResults.Ok(revoked) : NotFound($"credential '{credentialId}' does not exist");
    }

    private static async Task<Results<Ok<IReadOnlyList<AuditEntry>>, ProblemHttpResult>> ReadAudit(DateTimeOffset? since, int? limit, IGrainFactory grains)
    {
        if (limit is < 1 or > MaxAuditLimit)
        {
            return BadRequest($"limit {limit} must be within 1..{MaxAuditLimit}");
        }

        return TypedResults.Ok(await grains.GetGrain<IAuditLogGrain>(IAuditLogGrain.Default).Read(since, limit ?? 100));
    }

    private static ICredentialDirectoryGrain Directory(IGrainFactory grains) => grains.GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default);

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
