using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Security;

/// <summary>
/// The text form of credentials: <c>a1k_&lt;id&gt;_&lt;secret&gt;</c> for operator API keys and
/// <c>a1r_&lt;id&gt;_&lt;secret&gt;</c> for robot credentials; the id is 16 hex digits (64 random bits, so ids
/// do not collide), the secret 64 hex digits (256 random bits). Only the SHA-256 of the secret is stored: the
/// secret is random and long, so a plain hash cannot be reversed by guessing, and a slow password hash
/// (PBKDF2, Argon2) would only add CPU to every request.
/// </summary>
public static class CredentialKeys
{
    public const string ApiKeyPrefix = "a1k";
    public const string RobotPrefix = "a1r";
    private const int IdHexLength = 16;
    private const int SecretHexLength = 64;

    public static string Prefix(CredentialKind kind) => kind == CredentialKind.ApiKey ? ApiKeyPrefix : RobotPrefix;

    /// <summary>A new random credential: its id (prefix included), the full key to hand out once, and the hash to store.</summary>
    public static (string Id, string Key, byte[] SecretHash) Generate(CredentialKind kind)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdHexLength / 2));
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(SecretHexLength / 2));
        var prefix = Prefix(kind);
        return ($"{prefix}_{id}", $"{prefix}_{id}_{secret}", Hash(secret));
    }

    /// <summary>Splits a presented key into the credential id and the hash of its secret; false when it is not a key of this kind.</summary>
    public static bool TryParse(string? key, CredentialKind kind, [NotNullWhen(true)] out string? id, [NotNullWhen(true)] out byte[]? secretHash)
    {
        id = null;
        secretHash = null;
        var prefix = Prefix(kind);
        if (key is null || key.Length != prefix.Length + 1 + IdHexLength + 1 + SecretHexLength
            || !key.StartsWith(prefix + "_", StringComparison.Ordinal) || key[prefix.Length + 1 + IdHexLength] != '_')
        {
            return false;
        }

        var idPart = key.AsSpan(prefix.Length + 1, IdHexLength);
        var secret = key.AsSpan(prefix.Length + 1 + IdHexLength + 1);
        if (!IsLowerHex(idPart) || !IsLowerHex(secret))
        {
            return false;
        }

        id = $"{prefix}_{idPart}";
        secretHash = Hash(secret);
        return true;
    }

    private static byte[] Hash(ReadOnlySpan<char> secret) => SHA256.HashData(Encoding.ASCII.GetBytes(secret.ToArray()));

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }
}
