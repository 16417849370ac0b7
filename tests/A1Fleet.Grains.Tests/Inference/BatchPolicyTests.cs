using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Grains.Tests.Inference;

public sealed class BatchPolicyTests
{
    private static readonly DecodeSettings Decode = DecodeSettings.EarlyExitWarmK2;
    private readonly FakeTimeProvider _time = new();

    /// <param name="reserve">Whether caps leave time for a batch arriving while they run (tested on its own; off where a test's arithmetic is about another rule with requests arriving together).</param>
    private BatchPolicy<string> Policy(int maxBatch = 4, double gatherMs = 50, double marginMs = 0, int maxQueued = 256, int perRobot = 2, bool reserve = true, bool joins = false) =>
        new(new CostModel(CostModelTests.Prices, CostModelTests.Exits, maxBatch), new BatchPolicySettings(maxBatch, 8, gatherMs, marginMs, maxQueued, perRobot, reserve, joins), _time);

    /// <summary>Queues <paramref name="item"/> for a robot of its own (no share limit in the way), asserting it is admitted.</summary>
    private static QueuedRequest<string> Admit(BatchPolicy<string> policy, string item, double budgetMs, double ageMs = 0)
    {
        var (queued, refusal) = policy.TryEnqueue(item, "robot-" + item, budgetMs, ageMs, Decode);
        Assert.Null(refusal);
        return queued!;
    }

    [Fact]
    public void LaunchTime_NothingQueued_IsNever()
    {
        Assert.Equal(long.MaxValue, Policy().LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_FullBatch_IsNow()
    {
        var policy = Policy(maxBatch: 2);
        Admit(policy, "a", 1000);
        Admit(policy, "b", 1000);

        Assert.Equal(_time.GetTimestamp(), policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_RoomyDeadline_WaitsOutTheGatherWindow()
    {
        var policy = Policy(gatherMs: 50);
        var start = _time.GetTimestamp();
        Admit(policy, "a", 1000);

        Assert.Equal(start + policy.MsToTicks(50), policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_TightDeadline_IsTheLatestStartThatStillReachesFullDepth()
    {
        var policy = Policy(gatherMs: 50, marginMs: 1);
        var start = _time.GetTimestamp();
        Admit(policy, "a", 40);

        // A batch of 2 (this one and the next arrival) at full depth: 2 x 12.5 ms, plus the margin.
        Assert.Equal(start + policy.MsToTicks(40) - policy.MsToTicks(26), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TakeBatch_MixedDeadlines_TakesEarliestFirstUpToTheBatchSize()
    {
        var policy = Policy(maxBatch: 2);
        Admit(policy, "late", 900);
        Admit(policy, "soon", 100);
        Admit(policy, "middle", 500);

        var batch = policy.TakeBatch(Decode, _ => false).Rows;

        Assert.Equal(["soon", "middle"], batch.Select(r => r.Request.Item));
        Assert.Equal(1, policy.Count);
    }

    [Fact]
    public void TakeBatch_TimeSpentQueued_CapsRowsByWhatIsLeftOfTheirBudget()
    {
        var policy = Policy(maxBatch: 1);
        Admit(policy, "a", 30);
        _time.Advance(TimeSpan.FromMilliseconds(22));

        var row = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);

        // 8 ms left: layer 3 (7.5 ms) fits, layer 5 (10 ms) does not.
        Assert.Equal(3, row.Cap);
    }

    [Fact]
    public void TakeBatch_DeadlineTooCloseForTheFirstExit_IsRefusedNotRunLate()
    {
        var policy = Policy(maxBatch: 1);
        Admit(policy, "a", 30);
        _time.Advance(TimeSpan.FromMilliseconds(26));

        var taken = policy.TakeBatch(Decode, _ => false);

        Assert.Empty(taken.Rows);
        var (request, refusal) = Assert.Single(taken.Expired);
        Assert.Equal("a", request.Item);
        Assert.Equal(RefusalReason.ExpiredInQueue, refusal.Reason);
        Assert.InRange(refusal.RetryAfterMs, BatchPolicy<string>.MinRetryAfterMs, BatchPolicy<string>.MaxRetryAfterMs);
        Assert.Equal(0, policy.QueuedFor("robot-a"));
    }

    [Fact]
    public void TakeBatch_TightestRowCannotAffordALargerBatch_LeavesTheRestForTheNext()
    {
        // At the first exit a batch of 1 costs 5 ms, of 2 costs 10 ms: the tight row's 9 ms allow it no company.
        var policy = Policy(maxBatch: 4, reserve: false);
        Admit(policy, "tight", 9);
        Admit(policy, "roomy-1", 1000);
        Admit(policy, "roomy-2", 1000);

        var first = policy.TakeBatch(Decode, _ => false).Rows;
        var second = policy.TakeBatch(Decode, _ => false).Rows;

        Assert.Equal(["tight"], first.Select(r => r.Request.Item));
        Assert.Equal(3, first[0].Cap); // alone it even reaches layer 3 (7.5 ms)
        Assert.Equal(["roomy-1", "roomy-2"], second.Select(r => r.Request.Item).Order());
    }

    [Fact]
    public void TakeBatch_AbandonedRequests_AreDroppedNotRun()
    {
        var policy = Policy();
        Admit(policy, "gone", 100);
        Admit(policy, "kept", 100);

        var batch = policy.TakeBatch(Decode, item => item == "gone").Rows;

        Assert.Equal(["kept"], batch.Select(r => r.Request.Item));
        Assert.Equal(0, policy.Count);
    }

    [Fact]
    public void TryEnqueue_OldObservation_DeadlineCountsFromCaptureNotArrival()
    {
        var policy = Policy();
        var start = _time.GetTimestamp();

        var queued = Admit(policy, "a", budgetMs: 100, ageMs: 30);

        Assert.Equal(start, queued.ArrivedTicks);
        Assert.Equal(start + policy.MsToTicks(70), queued.DeadlineTicks);
    }

    [Fact]
    public void TryEnqueue_ObservationOlderThanItsBudget_IsRefusedAtOnce()
    {
        var policy = Policy();

        var (queued, refusal) = policy.TryEnqueue("a", "robot-a", 100, 120, Decode);

        Assert.Null(queued);
        Assert.Equal(RefusalReason.Deadline, refusal!.Reason);
        Assert.Equal(0, policy.Count);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-50.0)]
    public void TryEnqueue_MeaninglessAge_CountsFromArrival(double ageMs)
    {
        var policy = Policy();
        var start = _time.GetTimestamp();

        Assert.Equal(start + policy.MsToTicks(100), Admit(policy, "a", 100, ageMs).DeadlineTicks);
    }

    [Fact]
    public void TryEnqueue_WorkQueuedAheadTooLongForTheDeadline_IsRefusedWithAHintOfTheOvershoot()
    {
        // Batches of 1: every request queued ahead costs 5 ms at the first exit.
        var policy = Policy(maxBatch: 1);
        for (var i = 0; i < 4; i++)
        {
            Admit(policy, $"ahead-{i}", 1000);
        }

        // The later deadlines queued do not count against it: alone, its 5 ms fit in 8 ms. Behind "first" they do not:
        // a row ahead in an earlier batch runs as deep as batches run (the last exit until one has run: 12.5 ms), then its own 5 ms.
        Admit(policy, "first", 8);
        var (queued, refusal) = policy.TryEnqueue("second", "robot-second", 8, 0, Decode);

        Assert.Null(queued);
        Assert.Equal(RefusalReason.Deadline, refusal!.Reason);
        Assert.Equal(9.5, refusal.RetryAfterMs, 6);
        Assert.Contains("first exit", refusal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TryEnqueue_ArmRunningOutBeforeItsDeadline_GoesAheadOfRequestsNeededLater()
    {
        // Batches of 1, each row ahead priced as deep as batches run (12.5 ms) and its own first exit 5 ms. Three due in
        // 60 ms whose arms stop in 40: needed then.
        var policy = Policy(maxBatch: 1);
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(policy.TryEnqueue($"ahead-{i}", $"robot-ahead-{i}", 60, 0, Decode, actionsLeftMs: 40).Refusal);
        }

        // Due in 40 ms with a quarter-second of actions left: needed no earlier than they are, so behind all three
        // (3 x 12.5 + 5 = 42.5 ms), past its 40.
        Assert.Equal(RefusalReason.Deadline, policy.TryEnqueue("fresh", "robot-fresh", 40, 0, Decode, actionsLeftMs: 250).Refusal?.Reason);
        // Its arm stops in 10 ms: it is needed before all of them, goes first and makes its deadline, and they still make
        // theirs (the last at 42.5 ms instead of 30, within its 60).
        var (urgent, refusal) = policy.TryEnqueue("urgent", "robot-urgent", 40, 0, Decode, actionsLeftMs: 10);
        Assert.Null(refusal);
        Assert.Equal(urgent!.DeadlineTicks, urgent.NeedTicks + policy.MsToTicks(30));

        Assert.Equal(["urgent"], policy.TakeBatch(Decode, _ => false).Rows.Select(r => r.Request.Item));
        Assert.Equal(["ahead-0"], policy.TakeBatch(Decode, _ => false).Rows.Select(r => r.Request.Item));
    }

    [Fact]
    public void TryEnqueue_GoingAheadWouldMakeAnAdmittedRequestMissItsDeadline_RefusedInsteadAtOnce()
    {
        // As above, but the last of the four has only 50 ms: 42.5 ms as queued, 55 with one more ahead of it.
        var policy = Policy(maxBatch: 1);
        for (var i = 0; i < 4; i++)
        {
            Admit(policy, $"ahead-{i}", 50);
        }

        var (queued, refusal) = policy.TryEnqueue("urgent", "robot-urgent", 50, 0, Decode, actionsLeftMs: 10);

        Assert.Null(queued);
        Assert.Equal(RefusalReason.Deadline, refusal!.Reason);
        Assert.True(refusal.Detail.Contains("1 admitted request", StringComparison.Ordinal), refusal.Detail);
        Assert.Equal(4, policy.Count);
        Assert.Empty(policy.TakeExpired(Decode));
    }

    /// <summary>
    /// Batches of 1; three queued ahead due (and needed) in 30 ms, each priced as deep as batches run (12.5 ms). An arm due
    /// in 40 ms, with 45 ms of actions, would finish at 3 x 12.5 + 5 = 42.5 ms: refused, 2.5 ms over.
    /// </summary>
    private (BatchPolicy<string> Policy, Refusal Refusal) RefuseArmBehindThree(double actionsLeftMs, double? behindBudgetMs = null)
    {
        var policy = Policy(maxBatch: 1);
        for (var i = 0; i < 3; i++)
        {
            Admit(policy, $"ahead-{i}", 30);
        }

        if (behindBudgetMs is { } budget)
        {
            Admit(policy, "behind", budget);
        }

        var (queued, refusal) = policy.TryEnqueue("arm", "robot-arm", 40, 0, Decode, actionsLeftMs);
        Assert.Null(queued);
        Assert.Equal(RefusalReason.Deadline, refusal!.Reason);
        return (policy, refusal);
    }

    [Fact]
    public void TryEnqueue_RefusedArmThatWouldHoldAfterABatch_AsksAgainAfterTheOvershootAndItsPlaceIsKept()
    {
        // Back after the plain hint (a batch at the first exit, 5 ms) it would hold 40 ms, less than the 42.5 an answer
        // takes: told to come back after the overshoot and a layer (2.5 + 1 ms), its place kept where it was needed (40 ms).
        var (policy, refusal) = RefuseArmBehindThree(actionsLeftMs: 45);

        Assert.Equal(3.5, refusal.RetryAfterMs, 6);
        Assert.Equal(1, policy.Reserved);
        // Due in 50 ms, it would finish at 42.5 behind the three; the place kept ahead of it makes that 55: refused.
        Assert.Equal(RefusalReason.Deadline, policy.TryEnqueue("later", "robot-later", 50, 0, Decode).Refusal?.Reason);

        // The queue drained meanwhile (here: nobody waits for it any more); the arm comes back and takes its place.
        Assert.Empty(policy.TakeBatch(Decode, _ => true).Rows);
        _time.Advance(TimeSpan.FromMilliseconds(3.5));
        Assert.Null(policy.TryEnqueue("arm-again", "robot-arm", 40, 0, Decode, actionsLeftMs: 41.5).Refusal);
        Assert.Equal(0, policy.Reserved);
        Assert.Null(policy.TryEnqueue("later-again", "robot-later", 50, 0, Decode).Refusal);
    }

    [Fact]
    public void TryEnqueue_KeptPlace_StandsWhereTheRefusedRequestWasNeeded()
    {
        // Refused due at 40 ms (2.5 over): its place stands at 40 in need order, not at 43.5, where it comes back due.
        var start = _time.GetTimestamp();
        var (policy, _) = RefuseArmBehindThree(actionsLeftMs: 45);

        // Due at 43, after the arm's deadline: behind the three alone it would finish at 42.5, in time; behind the place
        // kept ahead of it, at 55. (Counted behind it, requests that came in meanwhile refused the arm again on its return.)
        Assert.Equal(RefusalReason.Deadline, policy.TryEnqueue("between", "robot-between", 43, 0, Decode).Refusal?.Reason);

        // Back after its hint, due at 43.5, it is queued where it was needed.
        Assert.Empty(policy.TakeBatch(Decode, _ => true).Rows);
        _time.Advance(TimeSpan.FromMilliseconds(3.5));
        var (queued, refusal) = policy.TryEnqueue("arm-again", "robot-arm", 40, 0, Decode, actionsLeftMs: 41.5);
        Assert.Null(refusal);
        Assert.Equal(start + policy.MsToTicks(40), queued!.NeedTicks);
        Assert.Equal(start + policy.MsToTicks(43.5), queued.DeadlineTicks);
    }

    [Fact]
    public void TryEnqueue_KeptPlaceNotTakenInTime_Lapses()
    {
        // Kept until the plain hint (5 ms) or as long again as its own (3.5 ms): lapsed after 7 ms.
        var (policy, _) = RefuseArmBehindThree(actionsLeftMs: 45);

        // Due 50 ms after it arrives: 42.5 behind the three, in time without the kept place, 55 with it.
        _time.Advance(TimeSpan.FromMilliseconds(6));
        Assert.Equal(RefusalReason.Deadline, policy.TryEnqueue("later", "robot-later", 50, 0, Decode).Refusal?.Reason);
        _time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Null(policy.TryEnqueue("later", "robot-later", 50, 0, Decode).Refusal);
        Assert.Equal(0, policy.Reserved);
    }

    [Fact]
    public void TryEnqueue_ArmBackAfterItsPlaceLapsed_IsQueuedByItsOwnNeed()
    {
        var (policy, _) = RefuseArmBehindThree(actionsLeftMs: 45);

        // Lapsed after 7 ms: back at 8, due at 48, it is needed then, not where the refused request was (40).
        _time.Advance(TimeSpan.FromMilliseconds(8));
        Assert.Empty(policy.TakeBatch(Decode, _ => true).Rows);
        var back = _time.GetTimestamp();
        var (queued, refusal) = policy.TryEnqueue("arm-again", "robot-arm", 40, 0, Decode, actionsLeftMs: 100);

        Assert.Null(refusal);
        Assert.Equal(back + policy.MsToTicks(40), queued!.NeedTicks);
    }

    [Fact]
    public void TryEnqueue_RefusedArmWithActionsToSpare_GetsThePlainHintAndNoPlace()
    {
        var (policy, refusal) = RefuseArmBehindThree(actionsLeftMs: 1000);

        Assert.Equal(5, refusal.RetryAfterMs, 6);
        Assert.Equal(0, policy.Reserved);
    }

    [Fact]
    public void TryEnqueue_KeepingThePlaceWouldBreakAPromise_NoPlaceAndThePlainHint()
    {
        // "behind" (due in 50 ms) finishes at 42.5 behind the three, and at 55 with the arm ahead of it: no place kept.
        var (policy, refusal) = RefuseArmBehindThree(actionsLeftMs: 45, behindBudgetMs: 50);

        Assert.Equal(5, refusal.RetryAfterMs, 6);
        Assert.Equal(0, policy.Reserved);
    }

    /// <summary>A batch of one row due in <paramref name="budgetMs"/>, taken and started: 12.5 ms to the last layer, its first exit after 5 ms.</summary>
    private static long StartDeep(BatchPolicy<string> policy, string item, double budgetMs)
    {
        Admit(policy, item, budgetMs);
        var row = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
        Assert.Equal(7, row.Cap);
        return policy.BatchStarted(1, row.Cap, Decode, row.Request.DeadlineTicks);
    }

    [Fact]
    public void LaunchTime_OneBatchInFlightWithSlack_LaunchesWhenItsFirstExitIsPredicted()
    {
        var policy = Policy();
        var start = _time.GetTimestamp();
        StartDeep(policy, "deep", 100);
        Admit(policy, "next", 100);

        Assert.Equal(start + policy.MsToTicks(5), policy.LaunchTime(Decode));
        _time.Advance(TimeSpan.FromMilliseconds(6));
        Assert.Equal(_time.GetTimestamp(), policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_DeviceThatJoinsAndRequestsArrivingSeldom_LaunchesAtOnceWhileTheQueueFitsBesideTheBatchInFlight()
    {
        var policy = Policy(maxBatch: 4, joins: true);
        ArriveEvery(policy, TimeSpan.FromMilliseconds(50));
        var start = _time.GetTimestamp();
        policy.BatchStarted(2, 7, Decode, start + policy.MsToTicks(100));
        Admit(policy, "next", 100);
        Admit(policy, "after", 100);

        // 2 in flight + 2 queued fit in a batch of 4: the device lets the new batch catch up and steps both as one.
        Assert.Equal(start, policy.LaunchTime(Decode));

        // One more would not fit beside it: that batch would run steps of its own, so it waits for the first exit (10 ms
        // at batch 2) as on a device that does not join.
        Admit(policy, "third", 100);
        Assert.Equal(start + policy.MsToTicks(10), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TakeBatch_LaunchedToJoinTheBatchInFlight_CapsCountTheStepRunningNotItsRemainingLayers()
    {
        // A batch of one in flight, due in 18 ms and 12.5 ms from its last layer (5.5 ms of slack: room for a first exit
        // of 5 ms); the next request is due in 19 ms, after it.
        var joining = Policy(maxBatch: 4, reserve: false, joins: true);
        var apart = Policy(maxBatch: 4, reserve: false, joins: false);
        ArriveEvery(joining, TimeSpan.FromMilliseconds(50));
        ArriveEvery(apart, TimeSpan.FromMilliseconds(50));
        foreach (var policy in new[] { joining, apart })
        {
            policy.BatchStarted(1, 7, Decode, _time.GetTimestamp() + policy.MsToTicks(18));
            Admit(policy, policy == joining ? "next-joining" : "next-apart", 19);
        }

        // Apart it runs after the other's 12.5 ms: 6.5 ms reach only the first exit (5 ms). Joined it runs in the other's
        // steps after the one running (2.5 ms): 16.5 ms reach the last layer (12.5 ms).
        Assert.Equal(1, Assert.Single(apart.TakeBatch(Decode, _ => false).Rows).Cap);
        Assert.Equal(7, Assert.Single(joining.TakeBatch(Decode, _ => false).Rows).Cap);
    }

    [Fact]
    public void LaunchTime_DeviceThatJoinsAndRequestsArrivingOften_WaitsForTheFirstExitToGatherABatch()
    {
        // Arrivals 2 ms apart, more often than a catch-up (a first exit, 5 ms) takes: launching each would hold the batch
        // in flight for one catch-up after another.
        var policy = Policy(maxBatch: 4, joins: true);
        ArriveEvery(policy, TimeSpan.FromMilliseconds(2));
        var start = _time.GetTimestamp();
        policy.BatchStarted(1, 7, Decode, start + policy.MsToTicks(100));
        Admit(policy, "next", 100);

        Assert.Equal(start + policy.MsToTicks(5), policy.LaunchTime(Decode));
    }

    [Fact]
    public void ArrivalsAllowJoining_RobotsWhosePeriodsLineUp_JudgedByTheMeanGapNotTheLastFew()
    {
        // Five robots asking every 27 ms, four of them within 2 ms: gaps of 0.5, 0.5, 0.5, 0.5 and 25 ms, 5.4 ms on
        // average, more than a catch-up (a first exit, 5 ms) takes. Right after the bunched ones a moving average of
        // single gaps read 3.5 ms and held the queue back from launching beside the batch in flight.
        var policy = Policy(maxBatch: 4, joins: true);
        for (var cycle = 0; cycle < 6; cycle++)
        {
            foreach (var gap in new[] { 0.5, 0.5, 0.5, 0.5, 25 })
            {
                Admit(policy, $"r-{cycle}-{gap}-{_time.GetTimestamp()}", 1000);
                Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
                _time.Advance(TimeSpan.FromMilliseconds(gap));
            }
        }

        // The next five, the last four of them bunched.
        Admit(policy, "bunched-0", 1000);
        for (var i = 1; i <= 4; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(0.5));
            Admit(policy, $"bunched-{i}", 1000);
        }

        Assert.InRange(policy.ArrivalGapMs, 5.3, 5.5);
        Assert.True(policy.ArrivalsAllowJoining(Decode));
    }

    /// <summary>Requests that arrived <paramref name="gap"/> apart for a while, each taken at once (the policy's view of the arrival rate).</summary>
    private void ArriveEvery(BatchPolicy<string> policy, TimeSpan gap)
    {
        for (var i = 0; i < 20; i++)
        {
            Admit(policy, $"earlier-{i}", 1000);
            Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
            _time.Advance(gap);
        }
    }

    [Fact]
    public void TakeBatch_ArmRunningOutBeforeItsDeadline_IsCappedToAnswerBeforeItStops()
    {
        var policy = Policy(maxBatch: 1);
        var (queued, refusal) = policy.TryEnqueue("urgent", "robot-urgent", 14, 0, Decode, actionsLeftMs: 8);
        Assert.Null(refusal);

        // By its deadline (14 ms) it could reach layer 7 (12.5 ms); its arm stops in 8 ms: layer 3 (7.5 ms), not a hold.
        Assert.Equal(3, Assert.Single(policy.TakeBatch(Decode, _ => false).Rows).Cap);
        Assert.Equal(queued!.NeedTicks + policy.MsToTicks(6), queued.DeadlineTicks);
    }

    [Fact]
    public void TakeBatch_ArmStoppingBeforeEvenItsFirstExit_IsCappedByItsDeadline()
    {
        var policy = Policy(maxBatch: 1, reserve: false);
        // Its arm stops in 3 ms (or holds already: 0), before any answer (5 ms at the first exit): it holds anyway, and
        // a shallower answer would not spare it that; its row runs as deep as its deadline allows.
        foreach (var left in new[] { 3.0, 0.0 })
        {
            Assert.Null(policy.TryEnqueue($"left-{left}", $"robot-{left}", 14, 0, Decode, actionsLeftMs: left).Refusal);
            Assert.Equal(7, Assert.Single(policy.TakeBatch(Decode, _ => false).Rows).Cap);
        }
    }

    [Fact]
    public void TakeBatch_RequestsArrivingFasterThanItsTimeLeft_CapLeavesTheNextBatchItsFirstExit()
    {
        var policy = Policy(maxBatch: 2);
        Admit(policy, "earlier", 1000);
        var earlier = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
        policy.BatchFinished(policy.BatchStarted(1, earlier.Cap, Decode, earlier.Request.DeadlineTicks), 7);
        _time.Advance(TimeSpan.FromMilliseconds(2));
        var start = _time.GetTimestamp();
        Admit(policy, "a", 16);

        // Requests 2 ms apart, 16 ms left: one is expected while "a" runs. Alone it could reach layer 7 (12.5 ms) and leave
        // 3.5 ms; its cap keeps a first exit (5 ms) free: layer 5 (10 ms, 11 ms available).
        var row = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
        Assert.Equal(5, row.Cap);
        policy.BatchStarted(1, row.Cap, Decode, row.Request.DeadlineTicks, [(row.Cap, row.Request.DeadlineTicks)]);

        // So "b" launches at the first exit of "a" (5 ms) and runs beside it, instead of waiting for all of it.
        Admit(policy, "b", 100);
        Assert.Equal(start + policy.MsToTicks(5), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TakeBatch_LoneRobot_KeepsItsWholeDeadline()
    {
        var policy = Policy(maxBatch: 1);
        Admit(policy, "a", 14);

        Assert.Equal(7, Assert.Single(policy.TakeBatch(Decode, _ => false).Rows).Cap);
    }

    [Fact]
    public void LaunchTime_BatchInFlightWhoseEarlyRowIsCappedShallow_InterleavesAtItsFirstExit()
    {
        var policy = Policy(maxBatch: 2, reserve: false);
        var start = _time.GetTimestamp();
        Admit(policy, "early", 100);
        Admit(policy, "late", 100);
        var rows = policy.TakeBatch(Decode, _ => false).Rows;
        // The early row capped at the first exit due in 15 ms (10 ms at batch 2: 5 ms slack); the late one at the last layer, due in 100 ms.
        var due = start + policy.MsToTicks(15);
        policy.BatchStarted(2, 7, Decode, due, [(1, due), (7, rows[1].Request.DeadlineTicks)]);
        Admit(policy, "next", 100);

        // Priced by the batch's end (25 ms) against its earliest deadline there would be no slack; each row by its own answer there is.
        Assert.Equal(start + policy.MsToTicks(10), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TakeExpired_DeadlineComesTooCloseWhileABatchInFlightKeepsItWaiting_RefusedWithoutABatchForming()
    {
        var policy = Policy(maxBatch: 1);
        StartDeep(policy, "deep", 100);
        Admit(policy, "waiting", 30);
        Assert.Empty(policy.TakeExpired(Decode));

        // 5 ms left: one step of the batch in flight (1 ms) then its own first exit (5 ms) no longer fit.
        _time.Advance(TimeSpan.FromMilliseconds(25));
        var (request, refusal) = Assert.Single(policy.TakeExpired(Decode));

        Assert.Equal("waiting", request.Item);
        Assert.Equal(RefusalReason.ExpiredInQueue, refusal.Reason);
        Assert.Equal(0, policy.Count);
        Assert.Equal(0, policy.QueuedFor("robot-waiting"));
    }

    [Fact]
    public void ExpiryDelay_QueuedRequest_IsJustPastItsLastStartForTheFirstExit()
    {
        var policy = Policy(maxBatch: 1);
        Assert.Null(policy.ExpiryDelay(Decode));
        StartDeep(policy, "deep", 100);
        Admit(policy, "waiting", 30);

        // Due at 30 ms: its first exit (5 ms) after one step in flight (1 ms) must start by 24 ms.
        Assert.InRange(policy.ExpiryDelay(Decode)!.Value.TotalMilliseconds, 24, 24.01);
        Assert.Empty(policy.TakeExpired(Decode));
        _time.Advance(TimeSpan.FromMilliseconds(24.01));
        Assert.Equal(TimeSpan.Zero, policy.ExpiryDelay(Decode));
        Assert.Single(policy.TakeExpired(Decode));
        Assert.Null(policy.ExpiryDelay(Decode));
    }

    [Fact]
    public void LaunchDelay_NothingQueued_IsNull()
    {
        Assert.Null(Policy().LaunchDelay(Decode));
    }

    [Fact]
    public void LaunchDelay_RoomyDeadline_IsWhatIsLeftOfTheGatherWindow()
    {
        var policy = Policy(gatherMs: 50);
        Admit(policy, "a", 1000);
        _time.Advance(TimeSpan.FromMilliseconds(20));

        Assert.Equal(TimeSpan.FromMilliseconds(30), policy.LaunchDelay(Decode));
    }

    [Fact]
    public void LaunchDelay_FullBatchOnAClockThatMovesOnEveryReading_IsNow()
    {
        // A real clock moves between two readings. A launch time ("now" when due) compared with a reading taken
        // before it was never due: the grain re-armed a zero timer forever and its full queue never launched.
        var clock = new MovingClock();
        var policy = new BatchPolicy<string>(new CostModel(CostModelTests.Prices, CostModelTests.Exits, 2), new BatchPolicySettings(2, 8, 0, 0), clock);
        Assert.Null(policy.TryEnqueue("a", "robot-a", 1000, 0, Decode).Refusal);
        Assert.Null(policy.TryEnqueue("b", "robot-b", 1000, 0, Decode).Refusal);

        Assert.Equal(TimeSpan.Zero, policy.LaunchDelay(Decode));
    }

    [Fact]
    public void LaunchDelay_BatchInFlightPastItsFirstExitOnAClockThatMovesOnEveryReading_IsNow()
    {
        var clock = new MovingClock();
        var policy = new BatchPolicy<string>(new CostModel(CostModelTests.Prices, CostModelTests.Exits, 4), new BatchPolicySettings(4, 8, 0, 0), clock);
        Assert.Null(policy.TryEnqueue("deep", "robot-deep", 100, 0, Decode).Refusal);
        var row = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
        policy.BatchStarted(1, row.Cap, Decode, row.Request.DeadlineTicks);
        Assert.Null(policy.TryEnqueue("next", "robot-next", 100, 0, Decode).Refusal);

        // The batch in flight reaches its first exit after 5 ms: the next one launches then, interleaved with it.
        Assert.InRange(policy.LaunchDelay(Decode)!.Value.TotalMilliseconds, 4.9, 5);
        clock.Advance(TimeSpan.FromMilliseconds(6));
        Assert.Equal(TimeSpan.Zero, policy.LaunchDelay(Decode));
    }

    /// <summary>A clock that moves one tick (1 us) on every reading, besides what a test advances it by, as a real one does between two readings.</summary>
    private sealed class MovingClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => 1_000_000;

        public override long GetTimestamp() => ++_ticks;

        public void Advance(TimeSpan by) => _ticks += (long)(by.TotalSeconds * TimestampFrequency);
    }

    [Fact]
    public void LaunchTime_OneBatchInFlightWithoutSlackForTheNextFirstExit_WaitsForItToFinish()
    {
        var policy = Policy();
        // Due in 16 ms, predicted to end at 12.5 ms: 3.5 ms of slack, less than the next batch's first exit (5 ms).
        var deep = StartDeep(policy, "deep", 16);
        Admit(policy, "next", 100);

        Assert.Equal(long.MaxValue, policy.LaunchTime(Decode));
        policy.BatchFinished(deep, 7);
        Assert.NotEqual(long.MaxValue, policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_TwoBatchesInFlightWithSlack_WaitsForOneToFinish()
    {
        var policy = Policy();
        var first = StartDeep(policy, "one", 100);
        StartDeep(policy, "two", 101);
        Admit(policy, "next", 102);

        Assert.Equal(long.MaxValue, policy.LaunchTime(Decode));
        policy.BatchFinished(first, 7);
        Assert.NotEqual(long.MaxValue, policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_QueuedDueBeforeABatchInFlight_LaunchesNow()
    {
        var policy = Policy();
        StartDeep(policy, "one", 100);
        StartDeep(policy, "two", 101);
        Admit(policy, "urgent", 50);

        Assert.Equal(_time.GetTimestamp(), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TryEnqueue_TwoBatchesInFlight_DueLaterWaitsForTheFirstToEndDueEarlierForOneLayer()
    {
        var policy = Policy(maxBatch: 1, reserve: false);
        // Both to the last layer (12.5 ms each, back to back): "one" predicted to end at 12.5 ms, "two" at 25 ms.
        var one = StartDeep(policy, "one", 14);
        StartDeep(policy, "two", 26);

        // Due after both: its batch launches when "one" ends (12.5 ms), runs after one layer of "two" (1 ms), first exit 5 ms.
        Admit(policy, "x", 27);
        // Behind "x" too (a batch of its own, priced as deep as batches run: 12.5 ms): 31 ms, refused until "one" ends.
        var refused = policy.TryEnqueue("y", "robot-y", 27.5, 0, Decode).Refusal;
        Assert.Equal(RefusalReason.Deadline, refused!.Reason);
        Assert.Equal(12.5, refused.RetryAfterMs, 6);
        // Due before "x", it would go first and make "x" finish at 31 ms: refused at once instead.
        Assert.Contains("1 admitted request", policy.TryEnqueue("urgent", "robot-urgent", 7, 0, Decode).Refusal!.Detail, StringComparison.Ordinal);

        policy.BatchFinished(one);
        Assert.Equal(1, policy.InFlight);
    }

    [Fact]
    public void TryEnqueue_DueBeforeABatchInFlight_LaunchesAtOnceAfterOneLayer()
    {
        var policy = Policy(maxBatch: 1, reserve: false);
        StartDeep(policy, "one", 14);
        StartDeep(policy, "two", 26);

        // Due before a batch in flight: it launches at once and runs after at most one layer (1 ms), then its 5 ms.
        Admit(policy, "urgent", 7);
        Assert.NotNull(policy.TryEnqueue("too-urgent", "robot-too-urgent", 5.5, 0, Decode).Refusal);
    }

    [Fact]
    public void TakeBatch_UrgentBatchWhileADeepOneIsInFlight_CappedSoTheDeepOneStillMakesItsDeadline()
    {
        var policy = Policy(maxBatch: 1);
        Admit(policy, "deep", 20);
        var deep = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);
        Assert.Equal(7, deep.Cap);
        policy.BatchStarted(1, deep.Cap, Decode, deep.Request.DeadlineTicks);

        // 15 ms left and one layer of the deep batch ahead would allow the last exit (12.5 ms); but the deep batch, due
        // in 20 ms with 12.5 ms of work, waits for it: 7.5 ms is all it can have, layer 3 (7.5 ms).
        Admit(policy, "urgent", 15);
        var urgent = Assert.Single(policy.TakeBatch(Decode, _ => false).Rows);

        Assert.Equal(3, urgent.Cap);
        Assert.True(policy.Cost.Predict(1, urgent.Cap, Decode) + policy.Cost.Predict(1, deep.Cap, Decode) <= 20);
    }

    [Fact]
    public void TryEnqueue_BatchesAheadRanShallow_CountsThemAtTheDepthTheyRun()
    {
        var policy = Policy(maxBatch: 1);
        policy.BatchFinished(policy.BatchStarted(1, 1, Decode), deepestLayer: 1);
        Admit(policy, "first", 8);

        // A full batch ahead now costs 5 ms (layer 1), and its own first exit 5 ms: 10 ms fit in 11.
        Assert.Equal(1, policy.TypicalDepth);
        Assert.Null(policy.TryEnqueue("second", "robot-second", 11, 0, Decode).Refusal);
    }

    [Fact]
    public void TryEnqueue_BatchesRunLarge_RowsAheadShareTheBatchAtTheFirstExit()
    {
        var policy = Policy(maxBatch: 4);
        policy.BatchFinished(policy.BatchStarted(4, 7, Decode), deepestLayer: 7);
        Admit(policy, "a", 20);
        Admit(policy, "b", 20);
        Admit(policy, "c", 20);

        // Three ahead and this one fit one batch of 4 (the size batches run at): 4 x 5 ms at the first exit, just in time.
        // A fifth goes in the next batch, behind a row of the first one priced at the depth batches run (12.5 ms).
        Assert.Equal(4, policy.TypicalBatch);
        Assert.Null(policy.TryEnqueue("d", "robot-d", 20, 0, Decode).Refusal);
        Assert.NotNull(policy.TryEnqueue("e", "robot-e", 20, 0, Decode).Refusal);
    }

    [Fact]
    public void TryEnqueue_OneRobotFlooding_IsCappedAtItsShareWhileOthersAreAdmitted()
    {
        var policy = Policy(perRobot: 2);
        Assert.Null(policy.TryEnqueue("f1", "flood", 1000, 0, Decode).Refusal);
        Assert.Null(policy.TryEnqueue("f2", "flood", 1000, 0, Decode).Refusal);

        var (_, refusal) = policy.TryEnqueue("f3", "flood", 1000, 0, Decode);
        var (other, none) = policy.TryEnqueue("o1", "other", 1000, 0, Decode);

        Assert.Equal(RefusalReason.RobotShare, refusal!.Reason);
        Assert.Contains("flood", refusal.Detail, StringComparison.Ordinal);
        Assert.NotNull(other);
        Assert.Null(none);
        Assert.Equal(2, policy.QueuedFor("flood"));
    }

    [Fact]
    public void TryEnqueue_ShareFreedOnceTakenIntoABatch()
    {
        var policy = Policy(maxBatch: 4, perRobot: 1);
        Assert.Null(policy.TryEnqueue("f1", "flood", 1000, 0, Decode).Refusal);
        Assert.NotNull(policy.TryEnqueue("f2", "flood", 1000, 0, Decode).Refusal);

        policy.TakeBatch(Decode, _ => false);

        Assert.Null(policy.TryEnqueue("f3", "flood", 1000, 0, Decode).Refusal);
    }

    [Fact]
    public void TryEnqueue_QueueAtItsBound_RefusesNewcomers()
    {
        var policy = Policy(maxQueued: 3);
        for (var i = 0; i < 3; i++)
        {
            Admit(policy, $"q{i}", 1000);
        }

        var (queued, refusal) = policy.TryEnqueue("late", "robot-late", 1000, 0, Decode);

        Assert.Null(queued);
        Assert.Equal(RefusalReason.QueueFull, refusal!.Reason);
        Assert.Equal(3, policy.Count);
    }

    [Fact]
    public void TakeBatch_AfterQueueing_RowsExitEarlierButNeverPastTheirDeadline()
    {
        // The same request alone and fresh reaches the last layer; after 20 ms in the queue its cap is cut to fit.
        var policy = Policy(maxBatch: 2, reserve: false);
        Admit(policy, "fresh", 40);
        Assert.Equal(7, Assert.Single(policy.TakeBatch(Decode, _ => false).Rows).Cap);

        Admit(policy, "a", 40);
        Admit(policy, "b", 40);
        _time.Advance(TimeSpan.FromMilliseconds(20));
        var rows = policy.TakeBatch(Decode, _ => false).Rows;

        // 20 ms left in a batch of 2 (factor 2): layer 5 costs 20 ms and fits, the last layer (25 ms) does not.
        Assert.All(rows, r => Assert.Equal(5, r.Cap));
        Assert.All(rows, r => Assert.True(policy.Cost.Predict(rows.Count, r.Cap, Decode) <= 20));
    }

    [Fact]
    public void TakeBatch_RequestsQueuedBehind_BatchesExitEarlierSoEveryQueuedRequestMakesItsDeadline()
    {
        // Batches of 1 that ran shallow: admission counts rows ahead at 5 ms each, so all three are admitted.
        var policy = Policy(maxBatch: 1);
        policy.BatchFinished(policy.BatchStarted(1, 1, Decode), deepestLayer: 1);
        var start = _time.GetTimestamp();
        Admit(policy, "a", 25);
        Admit(policy, "b", 26);
        Admit(policy, "c", 27);

        // Each batch runs for what the cost model says its deepest row costs. Capped by its own deadline only, "a" and "b"
        // would both run to the last layer (12.5 ms each) and "c" would expire after 25 ms in the queue.
        var caps = new List<int>();
        while (policy.Count > 0)
        {
            var taken = policy.TakeBatch(Decode, _ => false);
            Assert.Empty(taken.Expired);
            var row = Assert.Single(taken.Rows);
            _time.Advance(TimeSpan.FromMilliseconds(policy.Cost.Predict(1, row.Cap, Decode)));
            Assert.True(_time.GetTimestamp() <= row.Request.DeadlineTicks, $"{row.Request.Item} finished {policy.TicksToMs(_time.GetTimestamp() - start)} ms in, after its deadline");
            caps.Add(row.Cap);
        }

        Assert.Equal([7, 3, 1], caps);
    }

    [Theory]
    [InlineData(true, 5, true)]
    [InlineData(true, 7, false)]
    [InlineData(false, 5, false)]
    public void IsForcedExit_StoppedAtACapBeforeTheLastExit_IsForced(bool stoppedAtCap, int cap, bool expected)
    {
        Assert.Equal(expected, Policy().IsForcedExit(stoppedAtCap, cap));
    }

    [Fact]
    public void ThroughputCap_NothingArrived_IsTheLastExit()
    {
        Assert.Equal(7, Policy().ThroughputCap(Decode));
    }

    [Theory]
    [InlineData(0.5, 7)]
    [InlineData(0.9, 7)]
    [InlineData(1.5, 3)]
    [InlineData(3.0, 1)]
    public void TakeBatch_ArrivalsAtAShareOfTheFullDepthCapacity_CapsRowsWhereTheDeviceKeepsUp(double load, int expectedCap)
    {
        // The device's full-depth capacity in full batches, and arrivals at a share of it over the last second.
        var policy = Policy(maxBatch: 4, reserve: false);
        var capacity = 4 * 1000.0 / policy.Cost.Predict(4, 7, Decode);
        var arrivals = (int)Math.Round(load * capacity);
        for (var i = 0; i < arrivals; i++)
        {
            policy.TryEnqueue($"r{i}", $"robot-{i}", 60_000, 0, Decode);
            _time.Advance(TimeSpan.FromMilliseconds(990.0 / arrivals));
        }

        var rows = policy.TakeBatch(Decode, _ => false).Rows;

        // Deadlines a minute away leave every row its whole depth: only the rate caps them.
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.Equal(expectedCap, r.Cap));
        // The deepest exit whose time a row fits between two arrivals (never shallower than the first exit).
        var betweenMs = 1000.0 / policy.ArrivalsPerSecond;
        Assert.True(expectedCap == 1 || policy.Cost.Predict(4, expectedCap, Decode) / 4 <= betweenMs, $"exit {expectedCap} at {policy.ArrivalsPerSecond} arrivals a second");
        Assert.True(expectedCap == 7 || policy.Cost.Predict(4, expectedCap + 2, Decode) / 4 > betweenMs, $"exit {expectedCap + 2} at {policy.ArrivalsPerSecond} arrivals a second");
    }

    [Fact]
    public void ThroughputCap_ArrivalsOlderThanASecond_NoLongerCount()
    {
        var policy = Policy(maxBatch: 4);
        for (var i = 0; i < 400; i++)
        {
            policy.TryEnqueue($"r{i}", $"robot-{i}", 60_000, 0, Decode);
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal(1, policy.ThroughputCap(Decode));
        _time.Advance(TimeSpan.FromMilliseconds(900));
        Assert.Equal(100, policy.ArrivalsPerSecond);
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, policy.ArrivalsPerSecond);
        Assert.Equal(7, policy.ThroughputCap(Decode));
    }
}
