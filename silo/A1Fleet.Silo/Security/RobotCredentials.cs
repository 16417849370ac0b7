using A1Fleet.Api.Contracts;
using A1Fleet.Grains;
using A1Fleet.Silo.Api;

namespace A1Fleet.Silo.Security;

/// <summary>
/// Issuing a robot credential: a new random key for one robot, its hash stored in the fleet's credential store. The
/// operator API's POST /api/robots/{robotId}/credentials and the fleet demo (for its own simulated arms) both issue
/// through here, so a demo credential is checked by the robot gateway exactly as an operator-issued one.
/// </summary>
public static class RobotCredentials
{
    /// <summary>
    /// Issues a credential that speaks for <paramref name="robotId"/> only (already validated as a name by the caller);
    /// <paramref name="by"/> is who issued it, as stored with it. The key in the result is shown once and never stored.
    /// </summary>
    public static async Task<CreatedCredential> IssueAsync(IGrainFactory grains, TimeProvider time, string robotId, string? name, string by)
    {
        var (id, key, hash) = CredentialKeys.Generate(CredentialKind.Robot);
        var info = await grains.GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default)
            .Add(new CredentialInfo(id, CredentialKind.Robot, name ?? robotId, null, robotId, time.GetUtcNow(), by), hash);
        return new CreatedCredential(id, key, info);
    }
}
