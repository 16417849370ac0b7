using System.Collections.Concurrent;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Operator.Client;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// Robot credentials issued and revoked the way an operator does it: through the silo's operator API with the admin
/// key, so the gateway checks them against the fleet's own credential store.
/// </summary>
public sealed class OperatorIssuedCredentials
{
    private readonly ConcurrentDictionary<string, (string RobotId, string CredentialId)> _issued = new(StringComparer.Ordinal);
    private LoopbackSilo? _silo;

    /// <summary>Call once the silo is up.</summary>
    public void Use(LoopbackSilo silo) => _silo = silo;

    public async Task<string> IssueAsync(string robotId)
    {
        using var http = AdminHttp();
        var created = await new OperatorClient(http).IssueRobotCredential(robotId, null, CancellationToken.None);
        _issued[created.Key] = (robotId, created.Id);
        return created.Key;
    }

    public async Task RevokeAsync(string key)
    {
        var (robotId, credentialId) = _issued[key];
        using var http = AdminHttp();
        await new OperatorClient(http).RevokeRobotCredential(robotId, credentialId, CancellationToken.None);
    }

    private HttpClient AdminHttp() =>
        (_silo ?? throw new InvalidOperationException("call Use(silo) once the silo has started")).CreateClient(LoopbackSilo.AdminKey);
}
