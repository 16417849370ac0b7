using System.Threading.Channels;
using A1Fleet.Grains.Robots;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Grains.Tests.Robots;

public sealed class InferenceRouterTests
{
    private const double MarginMs = 5;
    private static readonly double TransportMs = new RobotOptions().HedgeTransport.TotalMilliseconds;
    private static readonly string[] FourSilos = ["10.0.0.1:11111@1", "10.0.0.2:11111@1", "10.0.0.3:11111@1", "10.0.0.4:11111@1"];
    private readonly FakeTimeProvider _time = new();
    private readonly SiloAnswers _answers;

    public InferenceRouterTests() => _answers = new SiloAnswers(_time);

    /// <summary>Another robot grain of this silo got its answer from <paramref name="silo"/> now, its call sent <paramref name="waitedMs"/> ago.</summary>
    private void OtherRobotAnswered(string silo, double waitedMs = 10) =>
        _answers.Answered("m", silo, _time.GetTimestamp() - (long)(waitedMs * _time.TimestampFrequency / 1000), _time.GetTimestamp());

    private InferenceRouter Router(string[] silos, double? firstExitMs = 20, IEnumerable<string>? active = null, long version = 1)
    {
        var router = new InferenceRouter(_time, _answers, MarginMs, TransportMs);
        router.SetActive(version, () => (active ?? silos).ToHashSet(StringComparer.Ordinal));
        router.SetServing("m", new ModelServing(silos, firstExitMs), version);
        return router;
    }

    private static IEnumerable<string> Robots(int n) => Enumerable.Range(0, n).Select(i => $"robot-{i}");

    [Fact]
    public void Order_SameRobot_IsTheSameWhateverTheListOrderOrRouter()
    {
        var a = Router(FourSilos);
        var b = Router([.. FourSilos.Reverse()]);

        Assert.All(Robots(50), r => Assert.Equal(a.Order(r), b.Order(r)));
        Assert.Equal(a.Order("robot-7"), a.Order("robot-7"));
    }

    [Fact]
    public void Order_ManyRobots_SpreadOverEverySilo()
    {
        var router = Router(FourSilos);

        var firsts = Robots(1000).GroupBy(r => router.Order(r)[0]).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(4, firsts.Count);
        Assert.All(firsts.Values, n => Assert.InRange(n, 150, 350));
    }

    [Fact]
    public void Order_SiloAdded_MovesAboutOneInNRobotsAllToTheNewSilo()
    {
        var before = Router(FourSilos);
        const string added = "10.0.0.5:11111@1";
        var after = Router([.. FourSilos, added]);

        var moved = Robots(1000).Where(r => before.Order(r)[0] != after.Order(r)[0]).ToList();

        Assert.InRange(moved.Count, 120, 280);
        Assert.All(moved, r => Assert.Equal(added, after.Order(r)[0]));
    }

    [Fact]
    public void Order_SiloNotActiveInTheCluster_IsLeftOutAndOnlyItsRobotsMove()
    {
        var all = Router(FourSilos);
        var dead = FourSilos[2];
        var survivors = Router(FourSilos, active: FourSilos.Where(s => s != dead));

        Assert.All(Robots(200), r =>
        {
            Assert.DoesNotContain(dead, survivors.Order(r));
            Assert.Equal(all.Order(r).Where(s => s != dead), survivors.Order(r));
        });
    }

    [Fact]
    public void Order_AfterAFailedCall_SiloGoesLastUntilSuspectForPasses()
    {
        var router = Router(FourSilos);
        var first = router.Order("robot-1")[0];

        router.MarkFailed(first);
        Assert.Equal(first, router.Order("robot-1")[^1]);

        _time.Advance(InferenceRouter.SuspectFor);
        Assert.Equal(first, router.Order("robot-1")[0]);
    }

    [Fact]
    public void NeedsServing_NoActiveServingSiloOrOtherModel_True()
    {
        var router = Router(FourSilos, active: ["10.9.9.9:1@1"]);

        Assert.True(router.NeedsServing("m"));
        router.SetActive(2, () => FourSilos.ToHashSet());
        Assert.False(router.NeedsServing("m"));
        Assert.True(router.NeedsServing("other-model"));
    }

    [Fact]
    public void RefreshDue_AfterTheIntervalOrAMembershipChange_True()
    {
        var router = Router(FourSilos);
        Assert.False(router.RefreshDue);

        router.SetActive(2, () => FourSilos.ToHashSet());
        Assert.True(router.RefreshDue);
        router.SetServing("m", new ModelServing(FourSilos, 20), 2);
        Assert.False(router.RefreshDue);

        _time.Advance(InferenceRouter.RefreshInterval);
        Assert.True(router.RefreshDue);
    }

    [Fact]
    public void RefreshDue_NoFirstExitTimeYet_AfterASecondRatherThanTheInterval()
    {
        var router = Router(FourSilos);
        router.SetServing("m", new ModelServing(FourSilos, null), 1);
        Assert.False(router.RefreshDue);

        _time.Advance(InferenceRouter.RefreshWithoutFirstExit);
        Assert.True(router.RefreshDue);

        router.SetServing("m", new ModelServing(FourSilos, 20), 1);
        _time.Advance(InferenceRouter.RefreshWithoutFirstExit);
        Assert.False(router.RefreshDue);
    }

    [Theory]
    [InlineData(200, 20, 115)] // room for 4 first exits and the margin
    [InlineData(200, 3, 172)] // a fast first exit: one, the transport allowance and the margin
    [InlineData(100, 40, 55)] // 4 first exits do not fit: the last moment one and the margin do
    public void HedgeDelay_FromTheDeadlineAndFirstExit_LeavesRoomForTheNextSilo(double remainingMs, double firstExitMs, double expectedMs) =>
        Assert.Equal(expectedMs, InferenceRouter.HedgeDelay(remainingMs, firstExitMs, MarginMs, TransportMs)!.Value.TotalMilliseconds, 6);

    [Fact]
    public void HedgeDelay_LargerTransportAllowance_HedgesThatMuchEarlier() =>
        // A1Fleet:Robots:HedgeTransport 800 ms (a contended machine): room 1.5 + 800 + 5 ms of a 2 s budget.
        Assert.Equal(1193.5, InferenceRouter.HedgeDelay(2000, 1.5, MarginMs, transportMs: 800)!.Value.TotalMilliseconds, 6);

    [Fact]
    public void HedgeDelay_UnknownFirstExit_Null() => Assert.Null(InferenceRouter.HedgeDelay(200, null, MarginMs, TransportMs));

    [Theory]
    [InlineData(25)]
    [InlineData(10)]
    public void HedgeDelay_NoTimeForAFirstExitElsewhere_Null(double remainingMs) => Assert.Null(InferenceRouter.HedgeDelay(remainingMs, 20, MarginMs, TransportMs));

    [Fact]
    public async Task SendAsync_FirstSiloSilentPastTheHedgeTime_AsksTheNextAndTheFirstAnswerWins()
    {
        var router = Router(FourSilos);
        var order = router.Order("robot-1");
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-1", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        Assert.Equal(order[0], first.Silo);

        _time.Advance(TimeSpan.FromMilliseconds(114));
        Assert.Equal(1, silos.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var hedge = await silos.Next();
        Assert.Equal(order[1], hedge.Silo);
        Assert.Equal(115, hedge.ElapsedMs, 6);

        hedge.Reply.SetResult(Ok());
        var result = await routed;

        Assert.Equal(hedge.Silo, result.Silo);
        Assert.True(result.Hedged);
        Assert.True(result.HedgeWon);
        Assert.True(first.Token.IsCancellationRequested);
        Assert.False(hedge.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task SendAsync_FirstSiloAnswersBeforeTheHedgeTime_NoHedge()
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-2", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        first.Reply.SetResult(Ok());
        var result = await routed;
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(result.Hedged);
        Assert.Equal(1, silos.Count);
        Assert.Equal(first.Silo, result.Silo);
    }

    [Fact]
    public async Task SendAsync_FirstSiloAnsweringOtherRobots_NotHedgedAndItsLateAnswerWins()
    {
        var router = Router(FourSilos);
        var order = router.Order("robot-4");
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-4", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(40));
        OtherRobotAnswered(order[0]);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        OtherRobotAnswered(order[0]);
        _time.Advance(TimeSpan.FromMilliseconds(50)); // past the hedge time (115 ms) and the last look (175 ms)
        Assert.Equal(1, silos.Count);

        first.Reply.SetResult(Ok());
        var result = await routed;

        Assert.False(result.Hedged);
        Assert.Equal(first.Silo, result.Silo);
        Assert.Equal(1, silos.Count);
    }

    [Theory]
    [InlineData(null, true)] // no wait of its calls known: silent since the hedge time is silent
    [InlineData(150.0, false)] // its calls have waited 150 ms between bursts: 165 ms of silence is within 1.5 x that
    public async Task SendAsync_FirstSiloFallsSilentAfterAnsweringOthers_HedgedAtTheLastLookOnlyPastItsRhythm(double? burstGapMs, bool hedged)
    {
        var router = Router(FourSilos);
        var order = router.Order("robot-5");
        var silos = new SiloCalls();
        if (burstGapMs is { } gap)
        {
            OtherRobotAnswered(order[0], waitedMs: gap);
        }

        var routed = router.SendAsync("robot-5", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(10));
        OtherRobotAnswered(order[0]);
        _time.Advance(TimeSpan.FromMilliseconds(105)); // the hedge time: it answered since, so no hedge yet
        Assert.Equal(1, silos.Count);
        _time.Advance(TimeSpan.FromMilliseconds(59));
        Assert.Equal(1, silos.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1)); // 175 ms: only a bare first exit (20) and the margin (5) left, silent since 115
        if (!hedged)
        {
            _time.Advance(TimeSpan.FromMilliseconds(5));
            first.Reply.SetResult(Ok());
            var answered = await routed;

            Assert.False(answered.Hedged);
            Assert.Equal(first.Silo, answered.Silo);
            Assert.Equal(1, silos.Count);
            return;
        }

        var hedge = await silos.Next();
        Assert.Equal(order[1], hedge.Silo);
        Assert.Equal(175, hedge.ElapsedMs, 6);

        hedge.Reply.SetResult(Ok());
        var result = await routed;

        Assert.True(result.Hedged);
        Assert.True(result.HedgeWon);
        Assert.True(first.Token.IsCancellationRequested);
    }

    [Fact]
    public void SilentPastItsRhythm_NeverHeardFrom_Silent() =>
        Assert.True(_answers.SilentPastItsRhythm("m", FourSilos[0], _time.GetTimestamp()));

    [Fact]
    public void SilentPastItsRhythm_WaitCountedFromTheLaterOfTheCallAndThePreviousAnswer()
    {
        // A call sent 6 s before the silo's previous answer waited 1 s of silence, not 6 s.
        var silo = FourSilos[0];
        OtherRobotAnswered(silo);
        _time.Advance(TimeSpan.FromMilliseconds(1000));
        OtherRobotAnswered(silo, waitedMs: 6000);
        var sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(1000));

        Assert.False(_answers.SilentPastItsRhythm("m", silo, sent));
        _time.Advance(TimeSpan.FromMilliseconds(700));
        Assert.True(_answers.SilentPastItsRhythm("m", silo, sent));

        // A call sent long after the previous answer waited its own 20 ms, not the 1 s since that answer.
        silo = FourSilos[1];
        OtherRobotAnswered(silo);
        _time.Advance(TimeSpan.FromMilliseconds(1000));
        OtherRobotAnswered(silo, waitedMs: 20);
        sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(40));

        Assert.True(_answers.SilentPastItsRhythm("m", silo, sent));
    }

    [Fact]
    public void SilentPastItsRhythm_ALongWaitFades()
    {
        var silo = FourSilos[0];
        OtherRobotAnswered(silo, waitedMs: 1000);
        _time.Advance(SiloAnswers.RhythmHalfLife * 2);
        OtherRobotAnswered(silo, waitedMs: 1); // the longest wait has faded to a quarter: 250 ms
        var sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(340));

        Assert.False(_answers.SilentPastItsRhythm("m", silo, sent)); // 340 < 1.5 x 250, faded on a little since (358)
        _time.Advance(TimeSpan.FromMilliseconds(40));

        Assert.True(_answers.SilentPastItsRhythm("m", silo, sent)); // 380 > 356
        Assert.True(_answers.SilentPastItsRhythm("other-model", silo, sent)); // never heard from for that model
    }

    [Fact]
    public async Task SendAsync_ReplyFromASilo_RecordedForTheOtherRobotsOfThisSilo()
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();
        var sent = _time.GetTimestamp();

        var routed = router.SendAsync("robot-6", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(30));
        first.Reply.SetResult(Refused(RefusalReason.Deadline));
        await routed;

        Assert.True(_answers.AnsweredSince("m", first.Silo, sent));
        Assert.False(_answers.AnsweredSince("m", first.Silo, _time.GetTimestamp()));
        Assert.False(_answers.AnsweredSince("other-model", first.Silo, sent));
    }

    [Fact]
    public async Task SendAsync_HedgedAndFirstSiloAnswersFirst_FirstWinsAndHedgeIsCancelled()
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-3", 100, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(75));
        var hedge = await silos.Next();
        first.Reply.SetResult(Ok());
        var result = await routed;

        Assert.True(result.Hedged);
        Assert.False(result.HedgeWon);
        Assert.Equal(first.Silo, result.Silo);
        Assert.True(hedge.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task SendAsync_HedgeRefusedAndFirstSilent_AnswersTheRefusalAtTheDeadline()
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-11", 100, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromMilliseconds(75));
        (await silos.Next()).Reply.SetResult(Refused(RefusalReason.Deadline));
        _time.Advance(TimeSpan.FromMilliseconds(24));
        Assert.False(routed.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await routed;

        Assert.Equal(RefusalReason.Deadline, result.Reply!.Refusal!.Reason);
        Assert.True(first.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task SendAsync_OnlyOneSilo_NeverHedges()
    {
        var router = Router([FourSilos[0]]);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-4", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        _time.Advance(TimeSpan.FromSeconds(1));
        first.Reply.SetResult(Ok());

        Assert.False((await routed).Hedged);
        Assert.Equal(1, silos.Count);
    }

    [Fact]
    public async Task SendAsync_SiloGone_GoesToTheNextAtOnceAndThatSiloGoesLast()
    {
        var router = Router(FourSilos);
        var order = router.Order("robot-5");
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-5", 200, silos.Send, CancellationToken.None);
        var first = await silos.Next();
        first.Reply.SetException(new InvalidOperationException("silo gone"));
        var second = await silos.Next();
        second.Reply.SetResult(Ok());
        var result = await routed;

        Assert.Equal(order[1], second.Silo);
        Assert.Equal(0, second.ElapsedMs);
        Assert.Equal(1, result.Failovers);
        Assert.False(result.Hedged);
        Assert.Equal(order[0], router.Order("robot-5")[^1]);
    }

    [Fact]
    public async Task SendAsync_EverySiloGone_ReturnsTheLastError()
    {
        var router = Router([FourSilos[0], FourSilos[1]]);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-6", 200, silos.Send, CancellationToken.None);
        (await silos.Next()).Reply.SetException(new InvalidOperationException("gone 1"));
        (await silos.Next()).Reply.SetException(new InvalidOperationException("gone 2"));
        var result = await routed;

        Assert.Null(result.Reply);
        Assert.Equal("gone 2", result.Error!.Message);
        Assert.Equal(1, result.Failovers);
    }

    [Fact]
    public async Task SendAsync_QueueFullRefusal_RetriedOnceOnTheNextSilo()
    {
        var router = Router(FourSilos);
        var order = router.Order("robot-7");
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-7", 200, silos.Send, CancellationToken.None);
        (await silos.Next()).Reply.SetResult(Refused(RefusalReason.QueueFull));
        var retry = await silos.Next();
        retry.Reply.SetResult(Refused(RefusalReason.QueueFull));
        var result = await routed;

        Assert.Equal(order[1], retry.Silo);
        Assert.Equal(1, result.RefusalRetries);
        Assert.Equal(RefusalReason.QueueFull, result.Reply!.Refusal!.Reason);
        Assert.Equal(2, silos.Count);
    }

    [Theory]
    [InlineData(RefusalReason.Deadline, 200)]
    [InlineData(RefusalReason.RobotShare, 200)]
    [InlineData(RefusalReason.QueueFull, 24)]
    public async Task SendAsync_OtherRefusalOrNoTimeLeft_NotRetried(RefusalReason reason, double remainingMs)
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();

        var routed = router.SendAsync("robot-8", remainingMs, silos.Send, CancellationToken.None);
        (await silos.Next()).Reply.SetResult(Refused(reason));
        var result = await routed;

        Assert.Equal(reason, result.Reply!.Refusal!.Reason);
        Assert.Equal(0, result.RefusalRetries);
        Assert.Equal(1, silos.Count);
    }

    [Fact]
    public async Task SendAsync_NoActiveSilo_ErrorWithoutACall()
    {
        var router = Router(FourSilos, active: []);
        var silos = new SiloCalls();

        var result = await router.SendAsync("robot-9", 200, silos.Send, CancellationToken.None);

        Assert.Null(result.Reply);
        Assert.Contains("no active silo", result.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(0, silos.Count);
    }

    [Fact]
    public async Task SendAsync_CallerCancels_CallIsCancelled()
    {
        var router = Router(FourSilos);
        var silos = new SiloCalls();
        using var cancel = new CancellationTokenSource();

        var routed = router.SendAsync("robot-10", 200, silos.Send, cancel.Token);
        var first = await silos.Next();
        await cancel.CancelAsync();
        first.Reply.TrySetCanceled(first.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => routed);
        Assert.True(first.Token.IsCancellationRequested);
    }

    private static InferenceReply Ok() => new(true, [1f], 1, 1, null, null);

    private static InferenceReply Refused(RefusalReason reason) => InferenceReply.Refused(new Refusal(reason, reason.ToString(), 10));

    private sealed record Call(string Silo, double ElapsedMs, TaskCompletionSource<InferenceReply> Reply, CancellationToken Token);

    /// <summary>Stands in for the silos' inference grains: each call waits until the test answers it.</summary>
    private sealed class SiloCalls
    {
        private readonly Channel<Call> _calls = Channel.CreateUnbounded<Call>();
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task<InferenceReply> Send(string silo, double elapsedMs, CancellationToken token)
        {
            var call = new Call(silo, elapsedMs, new TaskCompletionSource<InferenceReply>(TaskCreationOptions.RunContinuationsAsynchronously), token);
            Interlocked.Increment(ref _count);
            _calls.Writer.TryWrite(call);
            return call.Reply.Task;
        }

        /// <summary>The next call the router makes (bounded wait: a router that never calls fails the test, not hangs it).</summary>
        public async Task<Call> Next()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            return await _calls.Reader.ReadAsync(timeout.Token);
        }
    }
}
