using Orleans.Storage;

namespace A1Fleet.Grains.Tests;

/// <summary>
/// Memory storage with a storage round trip before every write, as the Redis store production uses has. Memory
/// storage alone answers within microseconds, so a reentrant grain's writes would hardly ever be in flight
/// together in tests; with the round trip they are (tens at once in the interleaving test), and memory storage's
/// own ETag check refuses a write that carries a stale ETag.
/// </summary>
internal sealed class RoundTripGrainStorage(IGrainStorage inner, TimeSpan roundTrip) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await Task.Delay(roundTrip);
        await inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}
