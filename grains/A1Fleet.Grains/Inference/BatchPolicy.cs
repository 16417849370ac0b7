using A1Fleet.Engine.Inference;

namespace A1Fleet.Grains.Inference;

/// <summary>The bounds a <see cref="BatchPolicy{T}"/> works within (from <see cref="FleetOptions"/> and the engine).</summary>
/// <param name="MaxBatch">Largest batch launched.</param>
/// <param name="Layers">LM layers of the model (the deepest a request can go is Layers - 1).</param>
/// <param name="MaxGatherMs">Longest the first request of a batch waits for others while the device is idle.</param>
/// <param name="DeadlineMarginMs">Kept free before each deadline.</param>
public sealed record BatchPolicySettings(int MaxBatch, int Layers, double MaxGatherMs, double DeadlineMarginMs);

/// <summary>A request waiting for a batch: what the caller queued, and when it arrived and is due on this process's monotonic clock.</summary>
public sealed class QueuedRequest<T>(T item, long arrivedTicks, long deadlineTicks)
{
    public T Item { get; } = item;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the request reached the policy.</summary>
    public long ArrivedTicks { get; } = arrivedTicks;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> by which its answer is due.</summary>
    public long DeadlineTicks { get; } = deadlineTicks;
}

/// <summary>One row of a batch about to launch: the request and the deepest layer it may run to (-1: not even the first exit fits).</summary>
public readonly record struct PlannedRow<T>(QueuedRequest<T> Request, int Cap);

/// <summary>
/// The batching and deadline policy of an inference grain as a plain class (no Orleans, time from the injected
/// <see cref="TimeProvider"/>), so it can be tested with fake time. Requests queue with a deadline; a batch launches
/// when full, when waiting longer would put the earliest deadline at risk, or after the gather window; a batch takes
/// the earliest deadlines first and caps each row's depth so it finishes in time by the <see cref="CostModel"/>.
/// Not thread-safe: the grain calls it from its own turns only.
/// </summary>
public sealed class BatchPolicy<T>
{
    private readonly List<QueuedRequest<T>> _pending = [];
    private readonly CostModel _cost;
    private readonly TimeProvider _time;

    public BatchPolicy(CostModel cost, BatchPolicySettings settings, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Layers, 1);
        _cost = cost;
        Settings = settings;
        _time = time;
    }

    public BatchPolicySettings Settings { get; }

    public CostModel Cost => _cost;

    /// <summary>Requests queued and not yet taken into a batch.</summary>
    public int Count => _pending.Count;

    /// <summary>Queues a request that arrives now and is due <paramref name="budgetMs"/> from now.</summary>
    public QueuedRequest<T> Enqueue(T item, double budgetMs)
    {
        var now = _time.GetTimestamp();
        var queued = new QueuedRequest<T>(item, now, now + MsToTicks(budgetMs));
        _pending.Add(queued);
        return queued;
    }

    /// <summary>
    /// When the next batch should launch (a <see cref="TimeProvider.GetTimestamp"/> value; at or before now: at once):
    /// now if the batch is full; otherwise the latest start that keeps the earliest deadline at full depth, capped by
    /// the gather window. <see cref="long.MaxValue"/> when nothing is queued.
    /// </summary>
    public long LaunchTime(DecodeSettings decode)
    {
        if (_pending.Count == 0)
        {
            return long.MaxValue;
        }

        var now = _time.GetTimestamp();
        if (_pending.Count >= Settings.MaxBatch)
        {
            return now;
        }

        var earliestDeadline = long.MaxValue;
        var firstArrival = long.MaxValue;
        foreach (var p in _pending)
        {
            earliestDeadline = Math.Min(earliestDeadline, p.DeadlineTicks);
            firstArrival = Math.Min(firstArrival, p.ArrivedTicks);
        }

        var predicted = _cost.Predict(_pending.Count + 1, Settings.Layers - 1, decode) + Settings.DeadlineMarginMs;
        var latestSafeStart = earliestDeadline - MsToTicks(predicted);
        var gatherEnd = firstArrival + MsToTicks(Settings.MaxGatherMs);
        return Math.Min(latestSafeStart, gatherEnd);
    }

    /// <summary>
    /// Takes the next batch: up to <see cref="BatchPolicySettings.MaxBatch"/> requests, earliest deadline first, leaving
    /// out those <paramref name="abandoned"/> says nobody waits for any more; each row capped at the deepest exit the
    /// cost model says finishes by its deadline (less the margin) in a batch of this size launched now.
    /// </summary>
    public List<PlannedRow<T>> TakeBatch(DecodeSettings decode, Func<T, bool> abandoned)
    {
        _pending.Sort(static (a, b) => a.DeadlineTicks.CompareTo(b.DeadlineTicks));
        var take = Math.Min(_pending.Count, Settings.MaxBatch);
        var rows = new List<QueuedRequest<T>>(take);
        for (var i = 0; i < take; i++)
        {
            if (!abandoned(_pending[i].Item))
            {
                rows.Add(_pending[i]);
            }
        }

        _pending.RemoveRange(0, take);
        var now = _time.GetTimestamp();
        var batch = new List<PlannedRow<T>>(rows.Count);
        foreach (var r in rows)
        {
            var available = TicksToMs(r.DeadlineTicks - now) - Settings.DeadlineMarginMs;
            batch.Add(new PlannedRow<T>(r, _cost.DeepestExitWithin(rows.Count, available, decode) ?? -1));
        }

        return batch;
    }

    public long MsToTicks(double ms) => (long)(ms * _time.TimestampFrequency / 1000.0);

    public double TicksToMs(long ticks) => ticks * 1000.0 / _time.TimestampFrequency;
}
