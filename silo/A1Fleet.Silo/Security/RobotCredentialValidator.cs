using A1Fleet.Grains;

namespace A1Fleet.Silo.Security;

/// <summary>
/// Robot credentials (a1r_...) checked against the hashes operators' issued credentials stored: one grain
/// call per check, nothing cached, so a revoked credential is refused from its next request on. A credential
/// names one robot; callers must act only for <see cref="RobotCredentialIdentity.RobotId"/>.
/// </summary>
public sealed class RobotCredentialValidator(IGrainFactory grains) : IRobotCredentialValidator
{
    public async ValueTask<RobotCredentialIdentity?> ValidateAsync(string presentedKey, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!CredentialKeys.TryParse(presentedKey?.Trim(), CredentialKind.Robot, out var id, out var hash))
        {
            return null;
        }

        var info = await grains.GetGrain<ICredentialGrain>(id).Verify(hash).WaitAsync(cancellationToken);
        return info is { Kind: CredentialKind.Robot, RobotId: { } robotId } ? new RobotCredentialIdentity(robotId, info.Id) : null;
    }
}
