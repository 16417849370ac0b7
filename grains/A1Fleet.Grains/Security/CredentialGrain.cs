using System.Security.Cryptography;

namespace A1Fleet.Grains.Security;

[GenerateSerializer, Alias("a1.CredentialState")]
public sealed class CredentialState
{
    [Id(0)] public CredentialInfo? Info { get; set; }
    [Id(1)] public byte[] SecretHash { get; set; } = [];
}

/// <summary>
/// One credential: its record and the SHA-256 of its secret. A grain per credential keeps the per-request
/// lookup a single call to a small activation, however many keys exist. Not reentrant: a revoke and a verify
/// are ordered, so the first request after a revoke is refused. Nothing is cached outside this grain.
/// </summary>
public sealed class CredentialGrain(
    [PersistentState("credential", FleetOptions.StorageName)] IPersistentState<CredentialState> state,
    TimeProvider time) : Grain, ICredentialGrain
{
    public async Task<bool> Create(CredentialInfo info, byte[] secretHash)
    {
        if (state.State.Info is not null)
        {
            return false;
        }

        if (info.Id != this.GetPrimaryKeyString() || secretHash.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException($"credential '{info.Id}' does not match grain '{this.GetPrimaryKeyString()}' or its hash is not a SHA-256", nameof(info));
        }

        state.State.Info = info;
        state.State.SecretHash = secretHash;
        await state.WriteStateAsync();
        return true;
    }

    public Task<CredentialInfo?> Verify(byte[] secretHash)
    {
        var info = state.State.Info;
        // Constant time: how long the comparison takes says nothing about how much of the hash matched.
        var match = info is not null && secretHash.Length == state.State.SecretHash.Length
                    && CryptographicOperations.FixedTimeEquals(secretHash, state.State.SecretHash);
        return Task.FromResult(match && !info!.Revoked ? info : null);
    }

    public Task<CredentialInfo?> Get() => Task.FromResult(state.State.Info);

    public async Task<CredentialInfo?> Revoke(string by)
    {
        if (state.State.Info is not { } info)
        {
            return null;
        }

        if (!info.Revoked)
        {
            state.State.Info = info with { RevokedAt = time.GetUtcNow(), RevokedBy = by };
            await state.WriteStateAsync();
        }

        return state.State.Info;
    }
}
