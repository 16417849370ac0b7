using System.Collections.Concurrent;
using System.Security.Cryptography;
using A1Fleet.Silo.Security;

namespace A1Fleet.Fleet.Tests.RobotGateway;

/// <summary>
/// A small real credential store for these tests: random keys the test issues per robot and can revoke, checked on
/// every call like the fleet's own store. Stands in until the tests use the operator-issued credentials.
/// </summary>
public sealed class IssuedTestCredentials : IRobotCredentialValidator
{
    private readonly ConcurrentDictionary<string, RobotCredentialIdentity> _keys = new(StringComparer.Ordinal);

    public string Issue(string robotId)
    {
        var key = "a1r_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        _keys[key] = new RobotCredentialIdentity(robotId, "cred-" + key[4..12]);
        return key;
    }

    public void Revoke(string key) => _keys.TryRemove(key, out _);

    public ValueTask<RobotCredentialIdentity?> ValidateAsync(string presentedKey, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_keys.TryGetValue(presentedKey, out var identity) ? identity : null);
}
