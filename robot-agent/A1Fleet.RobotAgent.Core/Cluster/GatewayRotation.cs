namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// Which robot gateway the next call goes to: round-robin over the addresses not marked bad. A call whose connection
/// failed (refused, reset: the silo behind it is gone) marks its address bad for a back-off that doubles with each
/// failure in a row (<see cref="MinBackoff"/> to <see cref="MaxBackoff"/>) and ends at the first success; once it ends the
/// address takes calls again, and the first that fails marks it again at once. When every address is marked, the one
/// whose back-off ends first is tried anyway: an agent never stops asking. Thread-safe; time from the injected
/// <see cref="TimeProvider"/>.
/// </summary>
public sealed class GatewayRotation
{
    /// <summary>The first back-off of an address: long enough for a silo's gateway to be declared gone, short enough to notice it back.</summary>
    public static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off: a gateway that came back is taken again within this.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly long[] _badUntil;
    private readonly int[] _failures;
    private int _next;

    public GatewayRotation(int count, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfZero(count);
        _time = time;
        _badUntil = new long[count];
        _failures = new int[count];
    }

    public int Count => _badUntil.Length;

    /// <summary>
    /// The address for the next call: the next in round-robin order that is not marked bad and not in
    /// <paramref name="tried"/> (the addresses this call already failed on); null when every address was tried.
    /// </summary>
    public int? Pick(IReadOnlyCollection<int>? tried = null)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            int? soonest = null;
            for (var i = 0; i < _badUntil.Length; i++)
            {
                var candidate = (_next + i) % _badUntil.Length;
                if (tried?.Contains(candidate) == true)
                {
                    continue;
                }

                if (_badUntil[candidate] <= now)
                {
                    _next = (candidate + 1) % _badUntil.Length;
                    return candidate;
                }

                if (soonest is not { } s || _badUntil[candidate] < _badUntil[s])
                {
                    soonest = candidate;
                }
            }

            return soonest;
        }
    }

    /// <summary>Whether <paramref name="index"/> is marked bad now.</summary>
    public bool IsBad(int index)
    {
        lock (_gate)
        {
            return _badUntil[index] > _time.GetTimestamp();
        }
    }

    /// <summary>A call's connection to <paramref name="index"/> failed: leave it out for the next back-off.</summary>
    /// <returns>How long it is left out.</returns>
    public TimeSpan MarkFailed(int index)
    {
        lock (_gate)
        {
            var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, MinBackoff.Ticks << Math.Min(_failures[index], 16)));
            _failures[index]++;
            _badUntil[index] = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            return backoff;
        }
    }

    /// <summary>A call through <paramref name="index"/> got an answer: it is good again, and its next failure starts the back-off afresh.</summary>
    public void MarkSucceeded(int index)
    {
        lock (_gate)
        {
            _failures[index] = 0;
            _badUntil[index] = 0;
        }
    }
}
