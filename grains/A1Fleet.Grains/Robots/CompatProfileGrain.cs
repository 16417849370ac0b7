using Microsoft.Extensions.Logging;

namespace A1Fleet.Grains.Robots;

/// <summary>The persisted compatible-protocol profile of one robot (docs/compatible-protocols.md). Read once per session.</summary>
[GenerateSerializer, Alias("a1.CompatProfileState")]
public sealed class CompatProfileState
{
    [Id(0)] public CompatProfile? Profile { get; set; }
}

public sealed partial class CompatProfileGrain(
    [PersistentState("compat", FleetOptions.StorageName)] IPersistentState<CompatProfileState> state,
    TimeProvider time,
    ILogger<CompatProfileGrain> logger) : Grain, ICompatProfileGrain
{
    private string RobotId => this.GetPrimaryKeyString();

    public Task<CompatProfile?> Get() => Task.FromResult(state.State.Profile);

    public async Task<CompatProfile> Set(CompatProfile profile, string by)
    {
        if (profile.Validate() is { } problem)
        {
            throw new ArgumentException(problem);
        }

        var stored = profile with { UpdatedBy = by, UpdatedAt = time.GetUtcNow() };
        state.State.Profile = stored;
        await state.WriteStateAsync();
        LogSet(RobotId, profile.Protocol, profile.Layout, profile.ModelId, by);
        return stored;
    }

    public async Task<bool> Clear(string by)
    {
        if (state.State.Profile is null)
        {
            return false;
        }

        state.State.Profile = null;
        await state.ClearStateAsync();
        LogCleared(RobotId, by);
        return true;
    }

    [LoggerMessage(EventId = 320, Level = LogLevel.Information, Message = "Robot {RobotId}: compatible-protocol profile set ({Protocol}, layout {Layout}, model {ModelId}) by {By}")]
    private partial void LogSet(string robotId, CompatProtocol protocol, string layout, string modelId, string by);

    [LoggerMessage(EventId = 321, Level = LogLevel.Information, Message = "Robot {RobotId}: compatible-protocol profile cleared by {By}")]
    private partial void LogCleared(string robotId, string by);
}
