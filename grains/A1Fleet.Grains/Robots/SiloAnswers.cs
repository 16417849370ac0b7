using System.Collections.Concurrent;

namespace A1Fleet.Grains.Robots;

/// <summary>
/// When each silo last answered an inference call for a model (actions or a refusal), as the robot grains of this silo
/// saw it: the routers' evidence that a silo is working on its queue rather than silent. One per silo process, shared by
/// every robot grain there (<see cref="InferenceRouter"/> decides hedges with it).
/// </summary>
public sealed class SiloAnswers
{
    private readonly ConcurrentDictionary<(string Model, string Silo), long> _last = new();

    /// <summary>A call to <paramref name="silo"/> for <paramref name="modelId"/> returned at <paramref name="timestamp"/> (a <see cref="TimeProvider"/> timestamp).</summary>
    public void Answered(string modelId, string silo, long timestamp) =>
        _last.AddOrUpdate((modelId, silo), static (_, t) => t, static (_, old, t) => Math.Max(old, t), timestamp);

    /// <summary>Whether <paramref name="silo"/> answered a call for <paramref name="modelId"/> after <paramref name="timestamp"/>.</summary>
    public bool AnsweredSince(string modelId, string silo, long timestamp) =>
        _last.TryGetValue((modelId, silo), out var last) && last > timestamp;
}
