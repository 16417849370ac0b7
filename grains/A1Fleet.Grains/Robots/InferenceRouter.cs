namespace A1Fleet.Grains.Robots;

/// <summary>What became of one routed request: the reply (or the error when no silo answered) and what it took.</summary>
/// <param name="Silo">The silo whose reply this is; null when none answered.</param>
/// <param name="Hedged">A second silo was asked because the first had not answered in time.</param>
/// <param name="Failovers">Calls that failed (silo gone or unreachable) and were sent on to the next silo.</param>
/// <param name="RefusalRetries">"queue_full" refusals retried on the next silo (at most one).</param>
public sealed record RoutedReply(InferenceReply? Reply, Exception? Error, string? Silo, bool Hedged, int Failovers, int RefusalRetries)
{
    /// <summary>The hedge's silo answered first with actions.</summary>
    public bool HedgeWon { get; init; }
}

/// <summary>
/// A robot grain's choice of inference silo, hedging and failover, without Orleans in it (unit-tested with a fake clock).
/// <list type="bullet">
/// <item>Order: the model's serving silos that the cluster lists as active, by <see cref="ServingOrder"/> (rendezvous
/// hashing of robot id and silo): stable for a robot, and adding or losing one of N silos moves only about 1/N of the robots. Silos a call recently
/// failed on go last, until <see cref="SuspectFor"/> passes or the cluster declares them dead (then they are gone).</item>
/// <item>Hedge: when the first silo has not answered by the time the next could only just serve it with room to spare
/// (<see cref="HedgeDelay"/>: a few first exits and transport before the deadline), and it has answered no other call for
/// the model since this one was sent (<see cref="SiloAnswers"/>), the request also goes to the next silo; the first
/// answer with actions wins and the other call is cancelled. A silo that is answering others is working through its
/// queue and admitted this request for its deadline: asking another would only duplicate work, and under overload every
/// silo is as loaded (hedges outnumbered answers 3:2 on four saturated silos). It is looked at once more at the last
/// moment a bare first exit fits elsewhere, and hedged then if it fell silent meanwhile for longer than its own rhythm
/// (<see cref="SiloAnswers.SilentPastItsRhythm"/>: a working silo answers in bursts, a batch's exits at a time).</item>
/// <item>Failover: a call that fails (the silo is gone) goes at once to the next silo.</item>
/// <item>A "queue_full" refusal is retried once on the next silo when a first exit there could still make the deadline;
/// other refusals stand (the robot's fair share and its deadline are the same on every silo).</item>
/// <item>Past the deadline a refusal in hand is answered instead of waiting on a silo that stays silent.</item>
/// </list>
/// The serving list is cached: the grain refreshes it when <see cref="RefreshDue"/> says so, off the request path,
/// and awaits a refresh only when no silo is known (<see cref="NeedsServing"/>).
/// </summary>
/// <param name="answers">When each silo last answered, shared by the robot grains of this silo.</param>
/// <param name="marginMs">The deadline margin (A1Fleet:Inference:Batching:DeadlineMargin), ms.</param>
/// <param name="hedgeTransportMs">A1Fleet:Robots:HedgeTransport, ms: see <see cref="HedgeDelay"/>.</param>
public sealed class InferenceRouter(TimeProvider time, SiloAnswers answers, double marginMs, double hedgeTransportMs)
{
    /// <summary>How long a silo a call failed on is tried only after the others (unless the cluster declares it dead sooner).</summary>
    public static readonly TimeSpan SuspectFor = TimeSpan.FromSeconds(10);

    /// <summary>How old the cached serving list may get before a refresh (a silo started later is seen within it).</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How old a list without a first-exit time may get: it cannot hedge, and the time is only known once a serving silo
    /// has reported it (its inference grain's first activation), often just after the list was fetched.
    /// </summary>
    public static readonly TimeSpan RefreshWithoutFirstExit = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, long> _suspectUntil = new(StringComparer.Ordinal);
    private string[] _serving = [];
    private IReadOnlySet<string> _active = new HashSet<string>(StringComparer.Ordinal);
    private long _activeVersion = long.MinValue;
    private long? _refreshedAt;
    private long _refreshedAtVersion = long.MinValue;

    /// <summary>The model the serving list is for (a rebind may change it).</summary>
    public string? ModelId { get; private set; }

    /// <summary>The fastest first-exit time of the model (ms); null disables hedging.</summary>
    public double? FirstExitMs { get; private set; }

    public IReadOnlyList<string> Serving => _serving;

    /// <summary>Takes a fresh serving list, fetched while the cluster's membership was at <paramref name="membershipVersion"/>.</summary>
    public void SetServing(string modelId, ModelServing serving, long membershipVersion)
    {
        if (!string.Equals(ModelId, modelId, StringComparison.Ordinal))
        {
            _suspectUntil.Clear();
        }

        ModelId = modelId;
        _serving = serving.Silos;
        FirstExitMs = serving.FirstExitMs;
        _refreshedAt = time.GetTimestamp();
        _refreshedAtVersion = membershipVersion;
    }

    /// <summary>The cluster's active silos at <paramref name="version"/>; a call with an unchanged version is free.</summary>
    public void SetActive(long version, Func<IReadOnlySet<string>> active)
    {
        if (version != _activeVersion)
        {
            _active = active();
            _activeVersion = version;
        }
    }

    /// <summary>Nothing to route <paramref name="modelId"/> by: a refresh must be awaited before sending.</summary>
    public bool NeedsServing(string modelId) =>
        !string.Equals(ModelId, modelId, StringComparison.Ordinal) || !_serving.Any(_active.Contains);

    /// <summary>The cached list is old, or the membership changed since it was fetched (a silo joined or left): refresh it in the background.</summary>
    public bool RefreshDue =>
        _refreshedAt is not { } at || time.GetElapsedTime(at) >= (FirstExitMs is null ? RefreshWithoutFirstExit : RefreshInterval) || _activeVersion != _refreshedAtVersion;

    /// <summary>A call to <paramref name="silo"/> failed: try it after the others for a while.</summary>
    public void MarkFailed(string silo) => _suspectUntil[silo] = time.GetTimestamp() + (long)(SuspectFor.TotalSeconds * time.TimestampFrequency);

    /// <summary>
    /// The silos to try for <paramref name="robotId"/>, best first: active serving silos by rendezvous score, recently failed
    /// ones after the rest. Silos the cluster does not list as active are left out.
    /// </summary>
    public List<string> Order(string robotId)
    {
        var now = time.GetTimestamp();
        // Stable sort: suspects move last, each group keeps its rendezvous order.
        return ServingOrder.Of(robotId, _serving.Where(_active.Contains))
            .OrderBy(s => _suspectUntil.TryGetValue(s, out var until) && until > now)
            .ToList();
    }

    /// <summary>First exits the hedge leaves the next silo time for: one to run, the rest for work queued ahead of it there.</summary>
    public const double HedgeFirstExits = 4;

    /// <summary>
    /// How long to wait on the first silo before asking the next: until the time left would only just hold a first exit
    /// elsewhere with room for queued work and transport (<see cref="HedgeFirstExits"/> first exits, at least one plus
    /// <paramref name="transportMs"/>, plus the margin). A hedge sent at the very last moment a bare first exit fits is
    /// refused by the next silo's admission (it predicts with the queue and the call's transport). When even that room
    /// does not fit, the last moment a bare first exit and the margin fit. Null when hedging cannot help: no first-exit
    /// time known, or even asking at once could not make the deadline.
    /// </summary>
    /// <param name="transportMs">A1Fleet:Robots:HedgeTransport in ms.</param>
    public static TimeSpan? HedgeDelay(double remainingMs, double? firstExitMs, double marginMs, double transportMs)
    {
        if (firstExitMs is not { } firstExit)
        {
            return null;
        }

        var roomMs = Math.Max(HedgeFirstExits * firstExit, firstExit + transportMs) + marginMs;
        var waitMs = remainingMs - roomMs > 0 ? remainingMs - roomMs : remainingMs - firstExit - marginMs;
        return waitMs > 0 ? TimeSpan.FromMilliseconds(waitMs) : null;
    }

    /// <summary>A refusal worth asking the next silo about: its queue was full, and a first exit there could still make the deadline.</summary>
    public static bool RetryElsewhere(Refusal refusal, double remainingMs, double? firstExitMs, double marginMs) =>
        refusal.Reason == RefusalReason.QueueFull && firstExitMs is { } firstExit && remainingMs >= firstExit + marginMs;

    /// <summary>
    /// Sends a request to the robot's silos by <see cref="Order"/>, hedging and failing over as the class describes.
    /// </summary>
    /// <param name="remainingMs">Time left to the request's deadline now (the robot's budget less the observation's age).</param>
    /// <param name="send">Calls one silo's inference grain; its second argument is the time elapsed since this call began
    /// (ms: the request has aged that much), its token is cancelled when another silo answered first.</param>
    public async Task<RoutedReply> SendAsync(
        string robotId,
        double remainingMs,
        Func<string, double, CancellationToken, Task<InferenceReply>> send,
        CancellationToken cancellationToken)
    {
        var order = Order(robotId);
        if (order.Count == 0)
        {
            return new RoutedReply(null, new InvalidOperationException($"no active silo serves model '{ModelId}'"), null, false, 0, 0);
        }

        var started = time.GetTimestamp();
        var calls = new List<(Task<InferenceReply> Task, string Silo, CancellationTokenSource Cancel, bool IsHedge, long SentAt)>(2);
        var next = 0;
        var failovers = 0;
        var refusalRetries = 0;
        var hedged = false;
        var pastDeadline = false;
        Exception? lastError = null;
        (InferenceReply Reply, string Silo)? fallback = null;

        void Start(bool isHedge)
        {
            var silo = order[next++];
            var sentAt = time.GetTimestamp();
            var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task<InferenceReply> task;
            try
            {
                task = send(silo, ElapsedMs(), cancel.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                task = Task.FromException<InferenceReply>(ex);
            }

            calls.Add((task, silo, cancel, isHedge, sentAt));
        }

        double ElapsedMs() => time.GetElapsedTime(started).TotalMilliseconds;

        using var hedgeCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var hedgeDelay = order.Count > 1 ? HedgeDelay(remainingMs, FirstExitMs, marginMs, hedgeTransportMs) : null;
        var hedgeTimer = hedgeDelay is { } delay ? Task.Delay(delay, time, hedgeCancel.Token) : null;
        var silentSince = started;
        var lastLook = false;
        // Past the deadline a silent silo's answer is of no use (an inference grain refuses rather than runs late):
        // a refusal already in hand is answered then instead of waiting on a silo that may be gone.
        var deadlineTimer = remainingMs > 0 ? Task.Delay(TimeSpan.FromMilliseconds(remainingMs), time, hedgeCancel.Token) : null;
        Start(isHedge: false);
        try
        {
            while (true)
            {
                var waiting = calls.Select(c => (Task)c.Task).ToList();
                if (hedgeTimer is not null)
                {
                    waiting.Add(hedgeTimer);
                }

                if (deadlineTimer is not null)
                {
                    waiting.Add(deadlineTimer);
                }

                var done = await Task.WhenAny(waiting);
                if (done == deadlineTimer)
                {
                    deadlineTimer = null;
                    pastDeadline = !hedgeCancel.IsCancellationRequested;
                    if (pastDeadline && fallback is { } late)
                    {
                        return new RoutedReply(late.Reply, null, late.Silo, hedged, failovers, refusalRetries);
                    }

                    continue;
                }

                if (done == hedgeTimer)
                {
                    hedgeTimer = null;
                    if (hedgeCancel.IsCancellationRequested)
                    {
                        continue;
                    }

                    if (next >= order.Count)
                    {
                        continue;
                    }

                    var asked = calls.Count > 0 ? calls[^1].Silo : null;
                    // At the last look the silence must also outlast the silo's own rhythm: a working silo answers in
                    // bursts, and the gap between two is no sign of trouble.
                    if (asked is null || ModelId is not { } model
                        || (!answers.AnsweredSince(model, asked, silentSince) && (!lastLook || answers.SilentPastItsRhythm(model, asked, started))))
                    {
                        hedged = true;
                        Start(isHedge: true);
                    }
                    else if (!lastLook && FirstExitMs is { } firstExit && remainingMs - ElapsedMs() - firstExit - marginMs is > 0 and var untilLast)
                    {
                        // Working: look once more when only a bare first exit would still fit elsewhere.
                        lastLook = true;
                        // From when the hedge was due, not when this continuation ran: an answer between the two counts.
                        silentSince = started + (long)(hedgeDelay!.Value.TotalSeconds * time.TimestampFrequency);
                        hedgeTimer = Task.Delay(TimeSpan.FromMilliseconds(untilLast), time, hedgeCancel.Token);
                    }

                    continue;
                }

                var index = calls.FindIndex(c => c.Task == done);
                var call = calls[index];
                calls.RemoveAt(index);
                call.Cancel.Dispose();
                if (!call.Task.IsCompletedSuccessfully)
                {
                    cancellationToken.ThrowIfCancellationRequested();

                    // The silo is gone or unreachable: the next one, at once (unless a hedge is already there).
                    lastError = call.Task.Exception?.InnerException
                        ?? new OperationCanceledException($"the call to silo {call.Silo} was cancelled by the callee's side");
                    MarkFailed(call.Silo);
                    if (calls.Count == 0 && next < order.Count)
                    {
                        failovers++;
                        Start(isHedge: false);
                    }
                    else if (calls.Count == 0)
                    {
                        return fallback is { } f
                            ? new RoutedReply(f.Reply, null, f.Silo, hedged, failovers, refusalRetries)
                            : new RoutedReply(null, lastError, null, hedged, failovers, refusalRetries);
                    }

                    continue;
                }

                var reply = call.Task.Result;
                if (ModelId is { } answered)
                {
                    answers.Answered(answered, call.Silo, call.SentAt, time.GetTimestamp());
                }

                if (reply.Succeeded)
                {
                    return new RoutedReply(reply, null, call.Silo, hedged, failovers, refusalRetries) { HedgeWon = call.IsHedge };
                }

                fallback = (reply, call.Silo);
                var remaining = remainingMs - ElapsedMs();
                if (calls.Count == 0 && refusalRetries == 0 && next < order.Count && reply.Refusal is { } refusal
                    && RetryElsewhere(refusal, remaining, FirstExitMs, marginMs))
                {
                    refusalRetries++;
                    Start(isHedge: false);
                    continue;
                }

                if (calls.Count == 0 || pastDeadline)
                {
                    return new RoutedReply(reply, null, call.Silo, hedged, failovers, refusalRetries);
                }
            }
        }
        finally
        {
            // Whatever is still out lost the race (or the caller gave up): cancel it and never leave its fault unobserved.
            hedgeCancel.Cancel();
            foreach (var (task, _, cancel, _, _) in calls)
            {
                cancel.Cancel();
                _ = task.ContinueWith(static (t, c) =>
                {
                    _ = t.Exception;
                    ((CancellationTokenSource)c!).Dispose();
                }, cancel, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }
}
