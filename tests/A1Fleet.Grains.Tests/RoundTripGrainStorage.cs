using Orleans.Storage;

namespace A1Fleet.Grains.Tests;

/// <summary>
/// Memory storage with a storage round trip before every write, as the Redis store production uses has. Memory
/// storage alone answers within microseconds, so a reentrant grain's writes would hardly ever be in flight
/// together in tests; with the round trip they are (tens at once in the interleaving test), and memory storage's
/// own ETag check refuses a write that carries a stale ETag. A test can also hold one grain's writes
/// (<see cref="HoldWrites"/>) to see what a grain does while its write is on its way.
/// </summary>
internal sealed class RoundTripGrainStorage(IGrainStorage inner, TimeSpan roundTrip) : IGrainStorage
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> Held = new(StringComparer.Ordinal);
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Written = new(StringComparer.Ordinal);

    /// <summary>Writes completed so far of grains whose id contains <paramref name="grainKey"/>.</summary>
    public static int WritesOf(string grainKey) => Written.Where(kv => kv.Key.Contains(grainKey, StringComparison.Ordinal)).Sum(kv => kv.Value);

    /// <summary>Writes of grains whose id contains <paramref name="grainKey"/> wait for <paramref name="until"/> (until disposed).</summary>
    public static IDisposable HoldWrites(string grainKey, Task until)
    {
        Held[grainKey] = until;
        return new Release(grainKey);
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await Task.Delay(roundTrip);
        if (!Held.IsEmpty)
        {
            var id = grainId.ToString();
            foreach (var (key, until) in Held)
            {
                if (id.Contains(key, StringComparison.Ordinal))
                {
                    await until;
                }
            }
        }

        await inner.WriteStateAsync(stateName, grainId, grainState);
        Written.AddOrUpdate(grainId.ToString(), 1, (_, n) => n + 1);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

    private sealed class Release(string grainKey) : IDisposable
    {
        public void Dispose() => Held.TryRemove(grainKey, out _);
    }
}
