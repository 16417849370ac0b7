namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// Waits that double per failure between a minimum and a maximum, with ±20% seeded jitter so that a fleet of
/// agents cut off by the same silo failure does not re-bind in lockstep.
/// </summary>
internal sealed class ExponentialBackoff
{
    private readonly TimeSpan _min;
    private readonly TimeSpan _max;
    private readonly Random _random;
    private TimeSpan _next;

    public ExponentialBackoff(TimeSpan min, TimeSpan max, int seed)
    {
        _min = min;
        _max = max < min ? min : max;
        _random = new Random(seed);
        _next = min;
    }

    /// <summary>The wait before the next attempt; the one after it is twice as long, up to the maximum.</summary>
    public TimeSpan Next()
    {
        var wait = _next * (0.8 + (0.4 * _random.NextDouble()));
        _next = TimeSpan.FromTicks(Math.Min(_max.Ticks, _next.Ticks * 2));
        return wait;
    }

    public void Reset() => _next = _min;
}
