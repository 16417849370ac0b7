using A1Fleet.Engine.Inference;

namespace A1Fleet.Grains.Inference;

/// <summary>The bounds a <see cref="BatchPolicy{T}"/> works within (from <see cref="InferenceBatchingOptions"/> and the engine).</summary>
/// <param name="MaxBatch">Largest batch launched.</param>
/// <param name="Layers">LM layers of the model (the deepest a request can go is Layers - 1).</param>
/// <param name="MaxGatherMs">Longest the first request of a batch waits for others while the device is idle.</param>
/// <param name="DeadlineMarginMs">Kept free before each deadline.</param>
/// <param name="MaxQueued">Most requests queued at once; past it new ones are refused (<see cref="RefusalReason.QueueFull"/>).</param>
/// <param name="MaxQueuedPerRobot">Most requests one robot may have queued (<see cref="RefusalReason.RobotShare"/>): one robot cannot crowd out the rest.</param>
/// <param name="ReserveForArrivals">Caps leave time for the first exit of a batch launched while they run when requests arrive
/// faster than a row has time left (<see cref="BatchPolicy{T}.TakeBatch"/>). Off only to test the other rules alone.</param>
/// <param name="JoinsInFlight">The device joins a batch launched beside those in flight once it has caught up with them
/// (<c>InferenceService.JoinsBatches</c>): while requests arrive seldom, a queue that fits beside them then launches at
/// once instead of at a first exit (<see cref="BatchPolicy{T}.LaunchTime(DecodeSettings)"/>).</param>
public sealed record BatchPolicySettings(int MaxBatch, int Layers, double MaxGatherMs, double DeadlineMarginMs, int MaxQueued = 256, int MaxQueuedPerRobot = 2,
    bool ReserveForArrivals = true, bool JoinsInFlight = false);

/// <summary>A request waiting for a batch: what the caller queued, and when it arrived and is due on this process's monotonic clock.</summary>
public sealed class QueuedRequest<T>(T item, string robotId, long arrivedTicks, long deadlineTicks, long needTicks)
{
    public T Item { get; } = item;

    public string RobotId { get; } = robotId;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the request reached the policy.</summary>
    public long ArrivedTicks { get; } = arrivedTicks;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> by which its answer is due (the robot's budget).</summary>
    public long DeadlineTicks { get; } = deadlineTicks;

    /// <summary>
    /// When the robot needs the answer: its deadline, or sooner when the arm's actions run out before it. Requests are
    /// served in this order (earliest first); whether one can be served still depends on its deadline. Never after the
    /// deadline (<see cref="BatchPolicy{T}.TryEnqueue"/> sets it).
    /// </summary>
    public long NeedTicks { get; } = needTicks;
}

/// <summary>One row of a batch about to launch: the request and the deepest layer it may run to (at least the first exit).</summary>
public readonly record struct PlannedRow<T>(QueuedRequest<T> Request, int Cap);

/// <summary>The next batch, and the requests found unable to make their deadline any more (to be refused, not run late).</summary>
public sealed record TakenBatch<T>(List<PlannedRow<T>> Rows, List<(QueuedRequest<T> Request, Refusal Refusal)> Expired);

/// <summary>
/// The batching, admission and deadline policy of an inference grain as a plain class (no Orleans, time from the
/// injected <see cref="TimeProvider"/>), so it can be tested with fake time.
/// <list type="bullet">
/// <item>Admission: a request's deadline is fixed on arrival (now - its observation's age + its budget). It is refused
/// at once, with a reason and a retry hint, when even at the first exit it would finish after that deadline given the
/// batches in flight and the requests queued ahead of it (needed no later: see <see cref="QueuedRequest{T}.NeedTicks"/>), by
/// the <see cref="CostModel"/>; or when the queue or the robot's share of it is full; or when it would go ahead of admitted
/// requests and make one of them miss its deadline (admission is a promise).</item>
/// <item>Batches in flight: several may be on the device at once, their layers interleaved earliest deadline first
/// (<see cref="DeviceSchedule{T}"/>). A request's finish so depends on the deadlines of the others: the work counted
/// ahead of a deadline is what is left of every batch in flight due no later (each at its predicted time less what the
/// device has had since; launched work is assumed to run back to back), plus one step of any other (a step is never
/// interrupted). Counting the deeper layers of earlier batches in full is conservative: the device runs a new batch's
/// work up to its first exit before them while they have slack.</item>
/// <item>Launch: when the batch is full, when waiting longer would put the earliest deadline at risk, or after the
/// gather window; with batches in flight, see <see cref="LaunchTime(DecodeSettings)"/> (on a device that joins batches,
/// at once while the queue fits beside them and requests arrive seldom).</item>
/// <item>Batches take the earliest needs first (a request's deadline, or sooner when its arm's actions run out before it:
/// under overload the arms about to stop are served before those that can still wait) and cap each row's depth so it
/// finishes by its need (an arm about to stop gets a shallower answer rather than hold while its row deepens, as long as
/// the first exit can still come before it stops; otherwise by its deadline): queue wait already spent comes off what is left, so under load rows exit earlier, never
/// later. The cap also leaves the requests queued behind time to make their own deadlines at the first exit: a deep
/// batch never makes the queue expire. A row that cannot make even the first exit any more is refused rather than run
/// late. When requests arrive faster than a row has time left, its cap also leaves one first exit free for a batch
/// launched while it runs, so that batch can interleave at its first exit instead of waiting for all of it.</item>
/// </list>
/// Not thread-safe: the grain calls it from its own turns only.
/// </summary>
public sealed class BatchPolicy<T>
{
    /// <summary>Bounds of a retry hint: never "now" (the agent asks on its next tick anyway), never more than a second.</summary>
    public const double MinRetryAfterMs = 1;
    public const double MaxRetryAfterMs = 1000;

    /// <summary>Queued requests in order of need, ties in order of arrival (<see cref="TryEnqueue"/> inserts each in its place).</summary>
    private readonly List<QueuedRequest<T>> _pending = [];
    private readonly Dictionary<string, int> _perRobot = new(StringComparer.Ordinal);
    private readonly CostModel _cost;
    private readonly TimeProvider _time;
    private readonly List<InFlightBatch> _inFlight = [];
    private long _nextBatchId;
    private double _typicalDepth = double.NaN;
    private double _typicalBatch = double.NaN;
    /// <summary>The last <see cref="ArrivalWindow"/> arrivals (a ring; <see cref="_arrivals"/> counts them all).</summary>
    private readonly long[] _arrivalTimes = new long[ArrivalWindow];
    private long _arrivals;
    /// <summary>Places kept for arms refused that would hold if they asked again later than their hint (<see cref="TryEnqueue"/>), by robot.</summary>
    private readonly Dictionary<string, Reservation> _reserved = new(StringComparer.Ordinal);

    /// <summary>
    /// Arrivals the time between arrivals is averaged over. A moving average of single gaps (weight 0.2) swung with how a
    /// few robots' periods happened to line up: at half the capacity (4 robots, a request every 62 ms on average) it fell
    /// below a first exit's time now and then, the queue then waited for the batch in flight instead of launching beside
    /// it, and those waits (11-64 ms) set the nominal queue p99 (docs/benchmarks.md).
    /// </summary>
    private const int ArrivalWindow = 16;

    /// <summary>Arrivals (admitted or refused) of the last <see cref="RateWindowMs"/>, oldest first: the rate the device must keep up with.</summary>
    private readonly Queue<long> _recentArrivals = new();

    /// <summary>
    /// The time the arrival rate is counted over: several periods of a 20 Hz arm's requests, so that how the robots'
    /// periods line up does not move it. (The 16 arrivals of <see cref="ArrivalWindow"/> span a sixth of a second at
    /// 3x this CPU's capacity.)
    /// </summary>
    private const double RateWindowMs = 1000;

    /// <summary>Most arrivals <see cref="_recentArrivals"/> keeps: past it the rate reads low (at 8 kHz), never the memory high.</summary>
    private const int MaxRateSamples = 8192;

    public BatchPolicy(CostModel cost, BatchPolicySettings settings, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxQueued, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxQueuedPerRobot, 1);
        _cost = cost;
        Settings = settings;
        _time = time;
    }

    public BatchPolicySettings Settings { get; }

    public CostModel Cost => _cost;

    /// <summary>Requests queued and not yet taken into a batch.</summary>
    public int Count => _pending.Count;

    /// <summary>Requests <paramref name="robotId"/> has queued.</summary>
    public int QueuedFor(string robotId) => _perRobot.GetValueOrDefault(robotId);

    /// <summary>
    /// Admits a request that arrives now, its observation <paramref name="ageMs"/> old (as the hops before measured it
    /// on their own clocks), due <paramref name="budgetMs"/> after the observation on this process's clock; or refuses
    /// it at once. Exactly one of the two results is set.
    /// </summary>
    /// <param name="actionsLeftMs">How long the arm can still move on what it holds (null: unknown): when that is less than
    /// its budget, the request goes ahead of those due before its own deadline but needed after its arm runs out.</param>
    public (QueuedRequest<T>? Queued, Refusal? Refusal) TryEnqueue(T item, string robotId, double budgetMs, double ageMs, DecodeSettings decode, double? actionsLeftMs = null)
    {
        var now = _time.GetTimestamp();
        NoteArrival(now);
        // Back (or not back in time): its place is its own request now, or nobody's.
        var hadPlace = _reserved.Remove(robotId, out var place);
        DropLapsedReservations(now);
        var deadline = now + MsToTicks(budgetMs - AgeOrZero(ageMs));
        var need = actionsLeftMs is { } left && double.IsFinite(left) ? Math.Min(deadline, now + MsToTicks(Math.Max(0, left))) : deadline;
        if (hadPlace && place.LapsesTicks >= now)
        {
            // Its place is where the refused request stood in need order: requests admitted since counted it there.
            need = Math.Min(need, place.NeedTicks);
        }
        if (_pending.Count >= Settings.MaxQueued)
        {
            return (null, new Refusal(RefusalReason.QueueFull,
                $"queue_full: the model's queue holds {_pending.Count} requests, its bound (A1Fleet:Inference:Batching:MaxQueuedRequests)", RetryHint(DrainOneBatchMs(now, decode))));
        }

        var mine = QueuedFor(robotId);
        if (mine >= Settings.MaxQueuedPerRobot)
        {
            return (null, new Refusal(RefusalReason.RobotShare,
                $"robot_share: robot '{robotId}' already has {mine} requests queued, its share (A1Fleet:Inference:Batching:MaxQueuedPerRobot)", RetryHint(DrainOneBatchMs(now, decode))));
        }

        var at = PositionByNeed(need);

        var finish = PredictedFirstExitFinish(now, deadline, ahead: at + ReservedAhead(need), decode);
        if (finish > deadline)
        {
            // Asked again after the overshoot, a fresh observation meets a queue drained by as much; and never before the
            // queue can have changed (one batch): sooner, the same robots would be refused again and again. Except for an
            // arm that would then hold (TryReserve).
            var overshootMs = TicksToMs(finish - deadline);
            var retryMs = Math.Max(overshootMs, DrainOneBatchMs(now, decode));
            if (!hadPlace && TryReserve(robotId, now, deadline, finish, actionsLeftMs, retryMs, decode) is { } soonMs)
            {
                retryMs = soonMs;
            }

            return (null, new Refusal(RefusalReason.Deadline,
                FormattableString.Invariant($"deadline: cannot finish by the deadline even at the first exit: {TicksToMs(deadline - now):0.0} ms left, {TicksToMs(finish - now):0.0} ms predicted with the work queued ahead"),
                RetryHint(retryMs)));
        }

        // Admission is a promise: a request that goes ahead of admitted ones (an earlier need) is refused rather than make
        // one of them miss its deadline, which would refuse that one late, after it waited (expired_in_queue).
        var broken = PromisesBrokenBehind(now, at, decode);
        if (broken > 0)
        {
            return (null, new Refusal(RefusalReason.Deadline,
                FormattableString.Invariant($"deadline: going ahead of the queue it would make {broken} admitted request(s) miss their deadlines at the first exit"),
                RetryHint(DrainOneBatchMs(now, decode))));
        }

        var queued = new QueuedRequest<T>(item, robotId, now, deadline, need);
        _pending.Insert(at, queued);
        _perRobot[robotId] = mine + 1;
        return (queued, null);
    }

    /// <summary>
    /// When the next batch should launch (a <see cref="TimeProvider.GetTimestamp"/> value; at or before now: at once):
    /// now if the batch is full; otherwise the latest start that keeps the earliest deadline at full depth, capped by
    /// the gather window; with batches in flight, see <see cref="LaunchTimeWhileInFlight"/>. <see cref="long.MaxValue"/>
    /// when nothing is queued (or when the queue waits for a batch in flight to finish).
    /// </summary>
    public long LaunchTime(DecodeSettings decode) => LaunchTime(_time.GetTimestamp(), decode);

    /// <summary>
    /// How long until the next batch should launch (<see cref="LaunchTime(DecodeSettings)"/>), on one reading of the clock:
    /// <see cref="TimeSpan.Zero"/> when it is due now; null when nothing is queued or the queue waits for a batch in
    /// flight to finish. Callers wait this long and ask again. (A launch time compared with a timestamp read before it
    /// is never due when the rule says "now": the rule's now is later. A grain that did so re-armed a zero timer forever
    /// once its queue was full or a batch in flight was past its first exit, and launched nothing: every later request
    /// was refused "deadline" behind a queue that never drained.)
    /// </summary>
    public TimeSpan? LaunchDelay(DecodeSettings decode)
    {
        var now = _time.GetTimestamp();
        var at = LaunchTime(now, decode);
        if (at == long.MaxValue)
        {
            return null;
        }

        return at <= now ? TimeSpan.Zero : TimeSpan.FromSeconds((double)(at - now) / _time.TimestampFrequency);
    }

    private long LaunchTime(long now, DecodeSettings decode)
    {
        if (_pending.Count == 0)
        {
            return long.MaxValue;
        }

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
        if (_inFlight.Count > 0)
        {
            return LaunchTimeWhileInFlight(now, earliestDeadline, _cost.Predict(Math.Min(_pending.Count, Settings.MaxBatch), _cost.FirstExit, decode), decode);
        }

        var gatherEnd = firstArrival + MsToTicks(Settings.MaxGatherMs);
        return Math.Min(latestSafeStart, gatherEnd);
    }

    /// <summary>
    /// With batches in flight, another launches (to be interleaved with them on the device) when its earliest request is
    /// due before a batch in flight (the device runs it first); at once when it would join them (<see cref="JoinsBeside"/>);
    /// or when a single batch in flight is past its first exit
    /// and has the slack to let the new batch's first exit go before its deeper layers: the device then only deepens
    /// answers already possible, and the new batch's first exit comes after about one layer.
    /// Otherwise the queue keeps gathering until a batch finishes: every batch in flight that does not join costs a step of its own per layer,
    /// so launching at every arrival would trade the device's batching for nothing (measured: at half the capacity, one
    /// batch per request saturated the device). A batch running deep does not starve the queue: its cap leaves the
    /// requests queued behind it time for their first exit (<see cref="SlackBehind"/>).
    /// </summary>
    /// <param name="firstExitMs">The new batch's work up to its first exit, which the device runs before the deeper layers in flight.</param>
    private long LaunchTimeWhileInFlight(long now, long earliestDeadline, double firstExitMs, DecodeSettings decode)
    {
        var latestInFlightDeadline = long.MinValue;
        foreach (var b in _inFlight)
        {
            latestInFlightDeadline = Math.Max(latestInFlightDeadline, b.DeadlineTicks);
        }

        if (earliestDeadline < latestInFlightDeadline)
        {
            return now;
        }

        if (JoinsBeside(firstExitMs, decode, launching: _pending.Count))
        {
            return now;
        }

        // The batch in flight must have the slack for the new batch's first exit: its deeper layers wait for it.
        if (_inFlight.Count == 1 && HasSlackFor(_inFlight[0], firstExitMs))
        {
            return Math.Max(now, _inFlight[0].FirstExitTicks);
        }

        return long.MaxValue;
    }

    /// <summary>
    /// Whether requests arrive seldom enough for launches beside the batches in flight (<see cref="JoinsBeside"/>), on a
    /// device that joins batches: less often than a batch of one takes to its first exit, about what a catch-up takes.
    /// </summary>
    public bool ArrivalsAllowJoining(DecodeSettings decode) => Settings.JoinsInFlight && ArrivalGapMs >= _cost.Predict(1, _cost.FirstExit, decode);

    /// <summary>The mean time between the last <see cref="ArrivalWindow"/> arrivals (admitted or refused); unbounded before two.</summary>
    public double ArrivalGapMs
    {
        get
        {
            var n = (int)Math.Min(_arrivals, ArrivalWindow);
            if (n < 2)
            {
                return double.PositiveInfinity;
            }

            var newest = _arrivalTimes[(_arrivals - 1) % ArrivalWindow];
            var oldest = _arrivalTimes[(_arrivals - n) % ArrivalWindow];
            return Math.Max(0, TicksToMs(newest - oldest)) / (n - 1);
        }
    }

    private bool HasSlackFor(InFlightBatch b, double ms) => b.SlackTicks == long.MaxValue || TicksToMs(b.SlackTicks) - Settings.DeadlineMarginMs >= ms;

    /// <summary>
    /// Whether the queue, launched now, fits beside the batches in flight in one batch on a device that joins them
    /// (<see cref="BatchPolicySettings.JoinsInFlight"/>), and each of those has the slack to wait for it to catch up (its
    /// work to the layer they stand at, priced as its first exit's, <paramref name="firstExitMs"/>). The device then steps
    /// them as one, so launching costs no steps of its own and the queue need not wait for a first exit.
    /// Only while requests arrive less often than a catch-up takes: each catch-up holds the batches in flight for a
    /// prefix and the layers to where they stand, at a small batch, and under load that is the device's time better
    /// spent on batches gathered meanwhile (measured: launching every arrival at 1.5x held the batches in flight so often
    /// that their answers came late).
    /// </summary>
    /// <param name="launching">Rows that would launch.</param>
    private bool JoinsBeside(double firstExitMs, DecodeSettings decode, int launching)
    {
        if (!ArrivalsAllowJoining(decode))
        {
            return false;
        }

        var rows = launching;
        foreach (var b in _inFlight)
        {
            if (!HasSlackFor(b, firstExitMs))
            {
                return false;
            }

            rows += b.Rows;
        }

        return rows <= Settings.MaxBatch;
    }

    /// <summary>
    /// Takes the next batch: up to <see cref="BatchPolicySettings.MaxBatch"/> requests, earliest need first, leaving
    /// out those <paramref name="abandoned"/> says nobody waits for any more; each row capped at the deepest exit the
    /// cost model says finishes by its deadline (less the margin) in a batch of this size launched now. Requests that
    /// cannot make even the first exit come back as <see cref="TakenBatch{T}.Expired"/>, to be refused.
    /// </summary>
    public TakenBatch<T> TakeBatch(DecodeSettings decode, Func<T, bool> abandoned)
    {
        var now = _time.GetTimestamp();
        var expired = new List<(QueuedRequest<T>, Refusal)>();
        var rows = new List<QueuedRequest<T>>(Math.Min(_pending.Count, Settings.MaxBatch));
        var tightest = double.PositiveInfinity;
        var taken = 0;
        while (taken < _pending.Count && rows.Count < Settings.MaxBatch)
        {
            var r = _pending[taken];
            // Launched now, its first exit comes after at most one step of the batches in flight (DeviceSchedule).
            var available = Available(r, now) - (_inFlight.Count > 0 ? _cost.LayerMs(TypicalBatch) : 0);
            if (abandoned(r.Item))
            {
                Release(r.RobotId);
                taken++;
                continue;
            }

            // Alone at the first exit is the best it could get: if even that is late, running it only delays the rest.
            if (_cost.Predict(1, _cost.FirstExit, decode) > available)
            {
                Release(r.RobotId);
                taken++;
                expired.Add((r, ExpiredRefusal(r, now, decode)));
                continue;
            }

            // A larger batch is slower for every row in it: stop before the first exit would come too late for the
            // tightest row taken (the earliest deadline); the rest go in the next batch.
            if (_cost.Predict(rows.Count + 1, _cost.FirstExit, decode) > Math.Min(tightest, available))
            {
                break;
            }

            Release(r.RobotId);
            taken++;
            tightest = Math.Min(tightest, available);
            rows.Add(r);
        }

        _pending.RemoveRange(0, taken);
        var behind = SlackBehind(now, rows.Count == 0 ? long.MaxValue : rows.Min(r => r.DeadlineTicks), decode);
        // Launched to join the batches in flight, its rows run in their steps once caught up: the work ahead of them is
        // the step running, not those batches' remaining layers one after the other (counted so, rows launched beside a
        // deep batch at nominal load were capped short of the depth their exit test asked for: forced exits).
        var joining = rows.Count > 0 && _inFlight.Count > 0 && JoinsBeside(_cost.Predict(rows.Count, _cost.FirstExit, decode), decode, launching: rows.Count);
        var throughputCap = ThroughputCap(decode);
        var batch = new List<PlannedRow<T>>(rows.Count);
        foreach (var r in rows)
        {
            // Depth up to when the answer is needed, while its first exit can still come by then: an arm that stops before
            // the deadline would hold while its row deepened. One that stops anyway (or holds already) gains a few
            // milliseconds of hold from a shallower answer and loses the depth: capped by its deadline.
            var ahead = joining ? StepAheadMs : WorkAheadMs(now, r.DeadlineTicks);
            var untilNeeded = AvailableUntilNeeded(r, now) - ahead;
            var left = _cost.Predict(rows.Count, _cost.FirstExit, decode) <= untilNeeded ? untilNeeded : Available(r, now) - ahead;
            var cap = _cost.DeepestExitWithin(rows.Count, Math.Min(left - ArrivalReserveMs(left, decode), behind), decode) ?? _cost.FirstExit;
            batch.Add(new PlannedRow<T>(r, Math.Min(cap, throughputCap)));
        }

        return new TakenBatch<T>(batch, expired);
    }

    /// <summary>
    /// Time a row's cap leaves free for the first exit of a batch launched while it runs (a batch of the size batches run
    /// at), when requests arrive faster than the row has time left: one is then expected while it runs. Its batch then
    /// keeps the slack the launch rule asks before it interleaves another (<see cref="LaunchTimeWhileInFlight"/>), and
    /// requests arriving during a deep batch launch at its first exit instead of waiting for all of it (measured before:
    /// batches capped to their whole deadline left no slack, the queue waited for each, and the next batch met its
    /// deadlines only at forced shallow exits or late). A lone robot's requests keep their whole deadline.
    /// </summary>
    private double ArrivalReserveMs(double leftMs, DecodeSettings decode) =>
        Settings.ReserveForArrivals && ArrivalGapMs < leftMs ? _cost.Predict(TypicalBatch, _cost.FirstExit, decode) : 0;

    /// <summary>Records an arrival (admitted or refused) for <see cref="ArrivalGapMs"/> and <see cref="ArrivalsPerSecond"/>.</summary>
    private void NoteArrival(long now)
    {
        _arrivalTimes[_arrivals % ArrivalWindow] = now;
        _arrivals++;
        _recentArrivals.Enqueue(now);
        TrimRecentArrivals(now);
    }

    private void TrimRecentArrivals(long now)
    {
        var oldest = now - MsToTicks(RateWindowMs);
        while (_recentArrivals.Count > 0 && (_recentArrivals.Peek() < oldest || _recentArrivals.Count > MaxRateSamples))
        {
            _recentArrivals.Dequeue();
        }
    }

    /// <summary>Requests (admitted or refused) that arrived over the last second.</summary>
    public double ArrivalsPerSecond
    {
        get
        {
            TrimRecentArrivals(_time.GetTimestamp());
            return _recentArrivals.Count * 1000.0 / RateWindowMs;
        }
    }

    /// <summary>
    /// The deepest exit at which the device, in full batches, would still answer requests as fast as they arrive
    /// (<see cref="ArrivalsPerSecond"/>): its time per row there fits the time between arrivals. Deadlines alone let
    /// every row run as deep as its own deadline and the queue behind it allow, which spends on depth the device time
    /// the requests arriving next need: measured at 3x this CPU's full-depth capacity, where the robots asked 84-100 %
    /// of what the device answers with every row at the first exit, rows past the first exit (a mean exit layer of
    /// 1.2-1.3) came with 25-47 answers a minute past their budget; capped here, 1-10 (docs/benchmarks.md, "Depth follows
    /// throughput"). At half the full-depth capacity (robots asking at most what the device answers at full depth in
    /// half its time) nothing is capped. The last exit while nothing arrives.
    /// </summary>
    public int ThroughputCap(DecodeSettings decode)
    {
        var rate = ArrivalsPerSecond;
        if (rate <= 0)
        {
            return _cost.LastExit;
        }

        var batch = Settings.MaxBatch;
        return _cost.DeepestExitWithin(batch, batch * 1000.0 / rate, decode) ?? _cost.FirstExit;
    }

    /// <summary>
    /// Takes out the queued requests that can no longer make their deadline even alone at the first exit (the test
    /// <see cref="TakeBatch"/> applies when a batch forms), to be refused now: while batches in flight keep the queue
    /// waiting, a request is told "not now" when its deadline comes too close, not seconds later when a batch forms.
    /// </summary>
    public List<(QueuedRequest<T> Request, Refusal Refusal)> TakeExpired(DecodeSettings decode)
    {
        var now = _time.GetTimestamp();
        var expired = new List<(QueuedRequest<T>, Refusal)>();
        for (var k = _pending.Count - 1; k >= 0; k--)
        {
            var r = _pending[k];
            if (_cost.Predict(1, _cost.FirstExit, decode) > Available(r, now) - StepAheadMs)
            {
                _pending.RemoveAt(k);
                Release(r.RobotId);
                expired.Add((r, ExpiredRefusal(r, now, decode)));
            }
        }

        return expired;
    }

    /// <summary>
    /// How long until a queued request can no longer make its deadline even alone at the first exit (strictly after its
    /// last possible start, so <see cref="TakeExpired"/> then takes it); null when nothing is queued.
    /// </summary>
    public TimeSpan? ExpiryDelay(DecodeSettings decode)
    {
        if (_pending.Count == 0)
        {
            return null;
        }

        var now = _time.GetTimestamp();
        var earliest = long.MaxValue;
        foreach (var p in _pending)
        {
            earliest = Math.Min(earliest, p.DeadlineTicks);
        }

        var lastStart = earliest - MsToTicks(Settings.DeadlineMarginMs + StepAheadMs + _cost.Predict(1, _cost.FirstExit, decode));
        return lastStart < now ? TimeSpan.Zero : TimeSpan.FromSeconds((double)(lastStart - now + 1) / _time.TimestampFrequency);
    }

    /// <summary>With batches in flight a new one's first step waits for the step running (one layer).</summary>
    private double StepAheadMs => _inFlight.Count > 0 ? _cost.LayerMs(TypicalBatch) : 0;

    private Refusal ExpiredRefusal(QueuedRequest<T> r, long now, DecodeSettings decode) => new(RefusalReason.ExpiredInQueue,
        FormattableString.Invariant($"expired_in_queue: its deadline came too close while it was queued ({TicksToMs(now - r.ArrivedTicks):0.0} ms, {TicksToMs(r.DeadlineTicks - now):0.0} ms left)"),
        RetryHint(DrainOneBatchMs(now, decode)));

    /// <summary>
    /// How long the batch about to launch may run and still leave every request queued behind it able to make its
    /// deadline at the first exit (in deadline order, in batches of the size batches run at): depth follows load, so
    /// under load a batch exits earlier instead of making the requests behind it expire. Requests that could not make
    /// their deadline even if this batch took no time do not count (they will be refused). Batches in flight due after
    /// the new one's <paramref name="deadline"/> wait for it too (it runs first): each must still make its own deadline
    /// after the work due before it. Unbounded when none wait.
    /// </summary>
    private double SlackBehind(long now, long deadline, DecodeSettings decode)
    {
        var slack = double.PositiveInfinity;
        var batch = TypicalBatch;
        var fullBatchMs = _cost.Predict(batch, _cost.FirstExit, decode);
        for (var k = 0; k < _pending.Count; k++)
        {
            var rows = k + 1;
            var needMs = (rows / batch * fullBatchMs) + (rows % batch == 0 ? 0 : _cost.Predict(rows % batch, _cost.FirstExit, decode));
            var left = Available(_pending[k], now) - WorkAheadMs(now, _pending[k].DeadlineTicks) - needMs;
            if (left >= 0)
            {
                slack = Math.Min(slack, left);
            }
        }

        foreach (var b in _inFlight)
        {
            if (b.DeadlineTicks > deadline && b.DeadlineTicks != long.MaxValue)
            {
                var left = TicksToMs(b.DeadlineTicks - now) - Settings.DeadlineMarginMs - WorkAheadMs(now, b.DeadlineTicks);
                if (left >= 0)
                {
                    slack = Math.Min(slack, left);
                }
            }
        }

        return slack;
    }

    /// <summary>
    /// A batch of <paramref name="size"/> rows, the deepest capped at <paramref name="deepestCap"/>, its earliest row due at
    /// <paramref name="deadlineTicks"/>, goes to the device now (others may be in flight): work ahead of the arrivals due
    /// after it. Returns the batch's handle for <see cref="BatchFinished"/>.
    /// </summary>
    /// <param name="rows">Each row's cap and deadline (null: every row at <paramref name="deepestCap"/>, due at
    /// <paramref name="deadlineTicks"/>): the batch's slack is the least any row has between its own predicted answer and
    /// its deadline. A row due early and capped shallow does not hold the batch to the deadline of a row capped deeper.</param>
    public long BatchStarted(int size, int deepestCap, DecodeSettings decode, long deadlineTicks = long.MaxValue, IReadOnlyList<(int Cap, long DeadlineTicks)>? rows = null)
    {
        var now = _time.GetTimestamp();
        var predicted = _cost.Predict(size, deepestCap, decode);
        var busyUntil = now;
        foreach (var b in _inFlight)
        {
            busyUntil = Math.Max(busyUntil, b.EndTicks);
        }

        var id = ++_nextBatchId;
        // Its first exit comes first on the device (see DeviceSchedule): after what is left of the work up to the first exits in flight.
        var firstExit = now + MsToTicks(_cost.Predict(size, _cost.FirstExit, decode));
        var end = busyUntil + MsToTicks(predicted);
        var slack = deadlineTicks == long.MaxValue ? long.MaxValue : deadlineTicks - end;
        if (rows is { Count: > 0 })
        {
            slack = long.MaxValue;
            foreach (var (cap, due) in rows)
            {
                if (due != long.MaxValue)
                {
                    slack = Math.Min(slack, due - (busyUntil + MsToTicks(_cost.Predict(size, cap, decode))));
                }
            }
        }

        _inFlight.Add(new InFlightBatch(id, deadlineTicks, end, predicted, firstExit, slack, size));
        _typicalBatch = double.IsNaN(_typicalBatch) ? size : (0.8 * _typicalBatch) + (0.2 * size);
        return id;
    }

    /// <summary>Batches started and not yet finished.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>The batch size batches recently launched at (1 until one has): how many rows ahead share a batch.</summary>
    public int TypicalBatch => double.IsNaN(_typicalBatch) ? 1 : Math.Clamp((int)Math.Round(_typicalBatch), 1, Settings.MaxBatch);

    /// <summary>A batch in flight is done; <paramref name="deepestLayer"/> (null: it failed) teaches how deep batches ahead tend to run.</summary>
    public void BatchFinished(long batch, int? deepestLayer = null)
    {
        _inFlight.RemoveAll(b => b.Id == batch);
        if (deepestLayer is { } deepest)
        {
            _typicalDepth = double.IsNaN(_typicalDepth) ? deepest : (0.8 * _typicalDepth) + (0.2 * deepest);
        }
    }

    /// <summary>The layer full batches queued ahead are assumed to run to: the recent deepest layers, the last exit until a batch has run.</summary>
    public int TypicalDepth => double.IsNaN(_typicalDepth) ? _cost.LastExit : (int)Math.Ceiling(_typicalDepth);

    /// <summary>
    /// Whether a row was cut short by time: it stopped at its cap (not by the exit test) and that cap, set by its
    /// deadline, lies before the model's last exit. Early exits by agreement are not forced.
    /// </summary>
    public bool IsForcedExit(bool stoppedAtCap, int cap) => stoppedAtCap && cap < _cost.LastExit;

    /// <summary>
    /// An arm refused that would hold if it asked again after one batch (back with less than an answer as slow as this one
    /// takes: measured, robots refused with half a chunk left came back after 67-136 ms with about 110 ms of actions, were
    /// answered 117-136 ms later, and held) is told to ask again once the queue can have drained by the overshoot, and
    /// its place is kept until then: requests admitted meanwhile count it ahead of them where it is needed first, so the
    /// arm is not refused again by those that came in between, nor for the promises it would break going ahead of them.
    /// A place is kept only where taking it later breaks no promise already made, and once per refusal: an arm refused
    /// again on coming back gets the plain hint, so that a crowd refused together does not come back every few
    /// milliseconds, each one counted ahead of the others. Returns the hint, or null (no place).
    /// </summary>
    private double? TryReserve(string robotId, long now, long deadline, long finish, double? actionsLeftMs, double retryMs, DecodeSettings decode)
    {
        if (actionsLeftMs is not { } heldMs || !double.IsFinite(heldMs) || heldMs - retryMs >= TicksToMs(finish - now))
        {
            return null;
        }

        var soonMs = TicksToMs(finish - deadline) + _cost.LayerMs(TypicalBatch);
        var back = now + MsToTicks(soonMs);
        // Where the refused request stood, not where it comes back due: counted from its return, the requests arriving
        // until then (due after this deadline, before the next) went ahead of the place and, when it was short of its
        // deadline by less than they took, refused the arm again (measured: a third of the returns, a tenth since).
        var need = Math.Min(deadline, now + MsToTicks(Math.Max(0, heldMs)));
        if (PromisesBrokenBehind(now, PositionByNeed(need), decode) > 0)
        {
            return null;
        }

        // Kept until the plain hint would have had it back, and at least as long again as the hint: an agent asks on its
        // next control tick after the hint.
        _reserved[robotId] = new Reservation(need, back + MsToTicks(Math.Max(retryMs - soonMs, soonMs)));
        return soonMs;
    }

    /// <summary>Where a request needed at <paramref name="need"/> goes in the queue, kept in order of need (ties in order of arrival): after every one needed no later.</summary>
    private int PositionByNeed(long need)
    {
        var at = _pending.Count;
        while (at > 0 && _pending[at - 1].NeedTicks > need)
        {
            at--;
        }

        return at;
    }

    /// <summary>Places kept (<see cref="TryReserve"/>) for arms needed no later than <paramref name="need"/>: rows ahead of a request needed then.</summary>
    private int ReservedAhead(long need)
    {
        var n = 0;
        foreach (var r in _reserved.Values)
        {
            n += r.NeedTicks <= need ? 1 : 0;
        }

        return n;
    }

    private void DropLapsedReservations(long now)
    {
        if (_reserved.Count == 0)
        {
            return;
        }

        foreach (var (robot, r) in _reserved)
        {
            if (r.LapsesTicks < now)
            {
                _reserved.Remove(robot);
            }
        }
    }

    /// <summary>Places kept for an arm's next request: it is expected needed by <paramref name="NeedTicks"/>, and back before <paramref name="LapsesTicks"/>.</summary>
    private readonly record struct Reservation(long NeedTicks, long LapsesTicks);

    /// <summary>Places kept for arms refused for now (<see cref="TryReserve"/>).</summary>
    public int Reserved => _reserved.Count;

    /// <summary>
    /// How many queued requests from position <paramref name="at"/> on would, with one more request ahead of them, no
    /// longer make their deadlines at the first exit although they would without it.
    /// </summary>
    private int PromisesBrokenBehind(long now, int at, DecodeSettings decode)
    {
        var broken = 0;
        for (var k = at; k < _pending.Count; k++)
        {
            var due = _pending[k].DeadlineTicks;
            var ahead = k + ReservedAhead(_pending[k].NeedTicks);
            if (PredictedFirstExitFinish(now, due, ahead: ahead, decode) <= due && PredictedFirstExitFinish(now, due, ahead: ahead + 1, decode) > due)
            {
                broken++;
            }
        }

        return broken;
    }

    /// <summary>When a request due at <paramref name="deadline"/> would finish at the first exit behind the running batch and <paramref name="ahead"/> queued requests.</summary>
    private long PredictedFirstExitFinish(long now, long deadline, int ahead, DecodeSettings decode)
    {
        // Rows ahead share batches of the size batches run at now; those that do not fit in this request's own batch
        // go in earlier batches, which run as deep as batches do (their rows' caps, not this request's first exit),
        // priced per row. Its own batch answers it at the first exit, whatever the others in it go on to do.
        var batch = TypicalBatch;
        var rowsBefore = Math.Max(0, ahead + 1 - batch);
        var perRow = _cost.Predict(batch, TypicalDepth, decode) / batch;
        var ms = (rowsBefore * perRow) + _cost.Predict(Math.Min(ahead + 1, batch), _cost.FirstExit, decode) + Settings.DeadlineMarginMs;
        return now + MsToTicks(LaunchWaitMs(now, deadline, _cost.Predict(Math.Clamp(_pending.Count + 1, 1, Settings.MaxBatch), _cost.FirstExit, decode), decode) + ms);
    }

    /// <summary>
    /// How long until a request queued now, due at <paramref name="deadline"/>, has its batch launched and running its
    /// first step, by the launch rule (<see cref="LaunchTimeWhileInFlight"/>): at once when nothing is in flight, it is
    /// due before a batch in flight, or it would join them; at the predicted first exit of a single batch in flight; else when the first batch
    /// in flight is predicted to end. Plus one step when a batch is in flight (a step runs to its end); its own first exit
    /// then comes before the deeper layers of the batches in flight (<see cref="DeviceSchedule{T}"/>).
    /// </summary>
    /// <param name="firstExitMs">The queue's work to its first exit at the size it would launch at (the catch-up a join asks of the batches in flight).</param>
    private double LaunchWaitMs(long now, long deadline, double firstExitMs, DecodeSettings decode)
    {
        if (_inFlight.Count == 0)
        {
            return 0;
        }

        var step = _cost.LayerMs(TypicalBatch);
        var latestInFlightDeadline = long.MinValue;
        var firstEnd = long.MaxValue;
        foreach (var b in _inFlight)
        {
            latestInFlightDeadline = Math.Max(latestInFlightDeadline, b.DeadlineTicks);
            firstEnd = Math.Min(firstEnd, b.EndTicks);
        }

        if (deadline < latestInFlightDeadline)
        {
            return step;
        }

        var launch = JoinsBeside(firstExitMs, decode, launching: _pending.Count + 1) ? now : _inFlight.Count == 1 ? _inFlight[0].FirstExitTicks : firstEnd;
        return Math.Max(0, TicksToMs(launch - now)) + step;
    }

    /// <summary>
    /// Device time the batches in flight take before a request due at <paramref name="deadline"/> gets its turn: what is
    /// left of each due no later (earliest deadline first), and one step if any other is in flight (a step runs to its end).
    /// </summary>
    private double WorkAheadMs(long now, long deadline)
    {
        var ahead = 0.0;
        var other = false;
        foreach (var b in _inFlight)
        {
            var left = Math.Clamp(TicksToMs(b.EndTicks - now), 0, b.PredictedMs);
            if (b.DeadlineTicks <= deadline)
            {
                ahead += left;
            }
            else
            {
                other |= left > 0;
            }
        }

        return other ? ahead + _cost.LayerMs(TypicalBatch) : ahead;
    }

    /// <summary>Until the first batch in flight is predicted to finish, or one batch of the queue at the first exit: before then the queue cannot have changed.</summary>
    private double DrainOneBatchMs(long now, DecodeSettings decode)
    {
        var firstEnd = long.MaxValue;
        foreach (var b in _inFlight)
        {
            firstEnd = Math.Min(firstEnd, b.EndTicks);
        }

        var inFlightMs = firstEnd == long.MaxValue ? 0 : TicksToMs(firstEnd - now);
        return Math.Max(inFlightMs, _cost.Predict(Math.Clamp(_pending.Count, 1, Settings.MaxBatch), _cost.FirstExit, decode));
    }

    /// <summary>A batch on the device as the policy predicted it: due at its earliest row's deadline, done by <paramref name="EndTicks"/> if launched work runs back to back.</summary>
    /// <param name="FirstExitTicks">When its rows can first be answered: its work up to the first exit, from its launch.</param>
    /// <param name="SlackTicks">The least time any of its rows has between its predicted answer and its deadline (<see cref="long.MaxValue"/>: none is due).</param>
    /// <param name="Rows">Rows it launched with.</param>
    private sealed record InFlightBatch(long Id, long DeadlineTicks, long EndTicks, double PredictedMs, long FirstExitTicks, long SlackTicks, int Rows);

    private double Available(QueuedRequest<T> r, long now) => TicksToMs(r.DeadlineTicks - now) - Settings.DeadlineMarginMs;

    /// <summary>As <see cref="Available"/>, up to the request's need (its arm's run-out when that comes before its deadline).</summary>
    private double AvailableUntilNeeded(QueuedRequest<T> r, long now) => TicksToMs(r.NeedTicks - now) - Settings.DeadlineMarginMs;

    private void Release(string robotId)
    {
        if (_perRobot.TryGetValue(robotId, out var n))
        {
            if (n <= 1)
            {
                _perRobot.Remove(robotId);
            }
            else
            {
                _perRobot[robotId] = n - 1;
            }
        }
    }

    private static double RetryHint(double ms) => Math.Clamp(double.IsFinite(ms) ? ms : MaxRetryAfterMs, MinRetryAfterMs, MaxRetryAfterMs);

    /// <summary>A negative or non-finite age (a hop's bug) counts as none: the deadline then runs from arrival here.</summary>
    private static double AgeOrZero(double ageMs) => double.IsFinite(ageMs) && ageMs > 0 ? ageMs : 0;

    public long MsToTicks(double ms) => (long)(ms * _time.TimestampFrequency / 1000.0);

    public double TicksToMs(long ticks) => ticks * 1000.0 / _time.TimestampFrequency;
}
