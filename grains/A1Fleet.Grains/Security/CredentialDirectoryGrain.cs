using Microsoft.Extensions.Logging;

namespace A1Fleet.Grains.Security;

[GenerateSerializer, Alias("a1.CredentialDirectoryState")]
public sealed class CredentialDirectoryState
{
    [Id(0)] public Dictionary<string, CredentialInfo> Credentials { get; set; } = [];
}

/// <summary>
/// The list of credentials, for operators' list/revoke and the bootstrap seeding. One activation, not
/// reentrant: two silos seeding the bootstrap key at the same start are ordered here, so only one seeds.
/// </summary>
public sealed partial class CredentialDirectoryGrain(
    [PersistentState("credentials", FleetOptions.StorageName)] IPersistentState<CredentialDirectoryState> state,
    ILogger<CredentialDirectoryGrain> logger) : Grain, ICredentialDirectoryGrain
{
    public async Task<CredentialInfo> Add(CredentialInfo info, byte[] secretHash)
    {
        if (!await GrainFactory.GetGrain<ICredentialGrain>(info.Id).Create(info, secretHash))
        {
            throw new InvalidOperationException($"credential id '{info.Id}' is already taken");
        }

        state.State.Credentials[info.Id] = info;
        await state.WriteStateAsync();
        return info;
    }

    public async Task<bool> SeedBootstrapAdmin(CredentialInfo info, byte[] secretHash)
    {
        if (ActiveAdmins() > 0 || state.State.Credentials.ContainsKey(info.Id))
        {
            return false;
        }

        var credential = GrainFactory.GetGrain<ICredentialGrain>(info.Id);
        if (!await credential.Create(info, secretHash))
        {
            return false;
        }

        state.State.Credentials[info.Id] = info;
        await state.WriteStateAsync();
        LogSeeded(info.Id, info.Name);
        return true;
    }

    public Task<IReadOnlyList<CredentialInfo>> List(CredentialKind kind, string? robotId) =>
        Task.FromResult<IReadOnlyList<CredentialInfo>>(state.State.Credentials.Values
            .Where(c => c.Kind == kind && (robotId is null || c.RobotId == robotId))
            .OrderBy(c => c.CreatedAt).ThenBy(c => c.Id, StringComparer.Ordinal).ToList());

    public async Task<CredentialInfo?> Revoke(string id, string by)
    {
        if (!state.State.Credentials.ContainsKey(id))
        {
            return null;
        }

        var revoked = await GrainFactory.GetGrain<ICredentialGrain>(id).Revoke(by);
        if (revoked is not null)
        {
            state.State.Credentials[id] = revoked;
            await state.WriteStateAsync();
        }

        return revoked;
    }

    public Task<int> ActiveAdminKeys() => Task.FromResult(ActiveAdmins());

    private int ActiveAdmins() => state.State.Credentials.Values.Count(c => c is { Kind: CredentialKind.ApiKey, Role: OperatorRole.Admin, Revoked: false });

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "Seeded the bootstrap admin API key {KeyId} ({Name}): no admin key existed")]
    private partial void LogSeeded(string keyId, string name);
}
