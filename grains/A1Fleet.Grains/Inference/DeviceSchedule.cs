namespace A1Fleet.Grains.Inference;

/// <summary>
/// Which of the batches in flight on the device runs its next step (one LM layer), decided before every step: earliest
/// deadline first, where a batch's deadline is the earliest of its rows still waiting (<see cref="TimeProvider.GetTimestamp"/>
/// values of the one process clock). Two refinements make a newly arrived request wait at most about one step:
/// <list type="bullet">
/// <item>Work up to a batch's first exit (the answer every admitted row is promised) goes before deeper layers of other
/// batches (which only improve answers already possible), each class in deadline order. A new batch so overtakes a
/// deep one after at most the one step already running, whatever their deadlines.</item>
/// <item>A batch whose remaining steps need all the time left to its deadline (no slack: now + remaining >= deadline)
/// counts as first-exit work again, so the deeper layers of a batch are never starved past its deadline by new arrivals.</item>
/// </list>
/// Ties go to the batch admitted first. At most <see cref="Capacity"/> batches; past it <see cref="TryAdd"/> says no and
/// the caller keeps the batch waiting (the silo's device thread stops taking batches from its queue). A plain class, time
/// from the injected <see cref="TimeProvider"/>, so it is tested with fake time. Not thread-safe (the device thread owns it).
/// </summary>
public sealed class DeviceSchedule<T> where T : class
{
    private readonly List<Entry> _entries = [];
    private readonly TimeProvider _time;
    private long _admitted;

    public DeviceSchedule(int capacity, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _time = time;
    }

    public int Capacity { get; }

    public int Count => _entries.Count;

    public bool IsFull => _entries.Count >= Capacity;

    /// <summary>Admits a batch that has not run a step yet (so its first exit is ahead); false when <see cref="Capacity"/> are in flight.</summary>
    public bool TryAdd(T batch, long deadlineTicks, long remainingTicks = 0)
    {
        if (IsFull)
        {
            return false;
        }

        _entries.Add(new Entry(batch, _admitted++) { DeadlineTicks = deadlineTicks, RemainingTicks = remainingTicks, BeforeFirstExit = true });
        return true;
    }

    /// <summary>After a step: the batch's deadline (its earliest row still waiting), whether its first exit is still ahead, and the predicted time of its remaining steps.</summary>
    public void Update(T batch, long deadlineTicks, bool beforeFirstExit, long remainingTicks)
    {
        var entry = Find(batch) ?? throw new InvalidOperationException("the batch is not in flight");
        entry.DeadlineTicks = deadlineTicks;
        entry.BeforeFirstExit = beforeFirstExit;
        entry.RemainingTicks = Math.Max(0, remainingTicks);
    }

    /// <summary>The batch to run a step of now, or null when none is in flight.</summary>
    public T? Next()
    {
        var now = _time.GetTimestamp();
        Entry? best = null;
        foreach (var e in _entries)
        {
            if (best is null || Before(e, best, now))
            {
                best = e;
            }
        }

        return best?.Batch;
    }

    public bool Remove(T batch)
    {
        var entry = Find(batch);
        return entry is not null && _entries.Remove(entry);
    }

    /// <summary>Takes every batch out, in the order they were admitted: the device starts over with none in flight.</summary>
    public List<T> TakeAll()
    {
        var all = _entries.Select(e => e.Batch).ToList();
        _entries.Clear();
        return all;
    }

    private static bool Before(Entry a, Entry b, long now)
    {
        var ua = a.Urgent(now);
        if (ua != b.Urgent(now))
        {
            return ua;
        }

        return a.DeadlineTicks != b.DeadlineTicks ? a.DeadlineTicks < b.DeadlineTicks : a.Order < b.Order;
    }

    private Entry? Find(T batch)
    {
        foreach (var e in _entries)
        {
            if (ReferenceEquals(e.Batch, batch))
            {
                return e;
            }
        }

        return null;
    }

    private sealed class Entry(T batch, long order)
    {
        public T Batch { get; } = batch;
        public long Order { get; } = order;
        public long DeadlineTicks { get; set; }
        public long RemainingTicks { get; set; }
        public bool BeforeFirstExit { get; set; }

        /// <summary>First-exit work, or deeper work with no slack left.</summary>
        public bool Urgent(long now) => BeforeFirstExit || (DeadlineTicks != long.MaxValue && now + RemainingTicks >= DeadlineTicks);
    }
}
