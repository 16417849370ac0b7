namespace A1Fleet.Silo.Security;

/// <summary>
/// Checks a credential a robot presents (the robot gateway's bearer token, a compatible endpoint's API key)
/// against the credentials operators issued. Checked on every request, so a revocation takes effect on the next one.
/// </summary>
public interface IRobotCredentialValidator
{
    /// <summary>The robot the key was issued for, or null when the key is unknown, malformed or revoked.</summary>
    ValueTask<RobotCredentialIdentity?> ValidateAsync(string presentedKey, CancellationToken cancellationToken);
}

/// <summary>Who a valid robot credential speaks for: one robot, under one credential id (for audit and revocation).</summary>
public sealed record RobotCredentialIdentity(string RobotId, string CredentialId);
