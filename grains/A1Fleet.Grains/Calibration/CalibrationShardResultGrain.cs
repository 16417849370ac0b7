namespace A1Fleet.Grains.Calibration;

[GenerateSerializer, Alias("a1.CalibrationShardResultState")]
public sealed class CalibrationShardResultState
{
    [Id(0)] public ShardValues? Values { get; set; }
}

/// <summary>Holds one finished shard's columns in storage of their own (see <see cref="ICalibrationShardResultGrain"/>).</summary>
public sealed class CalibrationShardResultGrain(
    [PersistentState("calibration-shard", FleetOptions.StorageName)] IPersistentState<CalibrationShardResultState> state) : Grain, ICalibrationShardResultGrain
{
    public async Task Save(ShardValues values)
    {
        state.State.Values = values;
        await state.WriteStateAsync();
    }

    public Task<ShardValues?> Load() => Task.FromResult(state.State.Values);

    public async Task Clear()
    {
        if (state.RecordExists)
        {
            await state.ClearStateAsync();
        }

        DeactivateOnIdle();
    }
}
