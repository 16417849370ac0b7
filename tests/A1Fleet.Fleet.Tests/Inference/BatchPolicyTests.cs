using A1Fleet.Engine.Inference;
using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Fleet.Tests.Inference;

public sealed class BatchPolicyTests
{
    private static readonly DecodeSettings Decode = DecodeSettings.EarlyExitWarmK2;
    private readonly FakeTimeProvider _time = new();

    private BatchPolicy<string> Policy(int maxBatch = 4, double gatherMs = 50, double marginMs = 0) =>
        new(new CostModel(CostModelTests.Prices, CostModelTests.Exits, maxBatch), new BatchPolicySettings(maxBatch, 8, gatherMs, marginMs), _time);

    [Fact]
    public void LaunchTime_NothingQueued_IsNever()
    {
        Assert.Equal(long.MaxValue, Policy().LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_FullBatch_IsNow()
    {
        var policy = Policy(maxBatch: 2);
        policy.Enqueue("a", 1000);
        policy.Enqueue("b", 1000);

        Assert.Equal(_time.GetTimestamp(), policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_RoomyDeadline_WaitsOutTheGatherWindow()
    {
        var policy = Policy(gatherMs: 50);
        var start = _time.GetTimestamp();
        policy.Enqueue("a", 1000);

        Assert.Equal(start + policy.MsToTicks(50), policy.LaunchTime(Decode));
    }

    [Fact]
    public void LaunchTime_TightDeadline_IsTheLatestStartThatStillReachesFullDepth()
    {
        var policy = Policy(gatherMs: 50, marginMs: 1);
        var start = _time.GetTimestamp();
        policy.Enqueue("a", 40);

        // A batch of 2 (this one and the next arrival) at full depth: 2 x 12.5 ms, plus the margin.
        Assert.Equal(start + policy.MsToTicks(40) - policy.MsToTicks(26), policy.LaunchTime(Decode));
    }

    [Fact]
    public void TakeBatch_MixedDeadlines_TakesEarliestFirstUpToTheBatchSize()
    {
        var policy = Policy(maxBatch: 2);
        policy.Enqueue("late", 900);
        policy.Enqueue("soon", 100);
        policy.Enqueue("middle", 500);

        var batch = policy.TakeBatch(Decode, _ => false);

        Assert.Equal(["soon", "middle"], batch.Select(r => r.Request.Item));
        Assert.Equal(1, policy.Count);
    }

    [Fact]
    public void TakeBatch_TimeSpentQueued_CapsRowsByWhatIsLeftOfTheirBudget()
    {
        var policy = Policy(maxBatch: 1);
        policy.Enqueue("a", 30);
        _time.Advance(TimeSpan.FromMilliseconds(22));

        var row = Assert.Single(policy.TakeBatch(Decode, _ => false));

        // 8 ms left: layer 3 (7.5 ms) fits, layer 5 (10 ms) does not.
        Assert.Equal(3, row.Cap);
    }

    [Fact]
    public void TakeBatch_NoTimeLeft_CapIsMinusOne()
    {
        var policy = Policy(maxBatch: 1);
        policy.Enqueue("a", 30);
        _time.Advance(TimeSpan.FromMilliseconds(26));

        Assert.Equal(-1, Assert.Single(policy.TakeBatch(Decode, _ => false)).Cap);
    }

    [Fact]
    public void TakeBatch_AbandonedRequests_AreDroppedNotRun()
    {
        var policy = Policy();
        policy.Enqueue("gone", 100);
        policy.Enqueue("kept", 100);

        var batch = policy.TakeBatch(Decode, item => item == "gone");

        Assert.Equal(["kept"], batch.Select(r => r.Request.Item));
        Assert.Equal(0, policy.Count);
    }
}
