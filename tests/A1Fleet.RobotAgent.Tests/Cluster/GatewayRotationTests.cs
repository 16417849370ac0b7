using A1Fleet.RobotAgent.Cluster;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.RobotAgent.Tests.Cluster;

public sealed class GatewayRotationTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Pick_NoneMarked_GoesRoundRobin()
    {
        var rotation = new GatewayRotation(3, _time);

        var picks = Enumerable.Range(0, 6).Select(_ => rotation.Pick()).ToList();

        Assert.Equal([0, 1, 2, 0, 1, 2], picks);
    }

    [Fact]
    public void Pick_OneMarkedFailed_LeavesItOutUntilItsBackoffEnds()
    {
        var rotation = new GatewayRotation(2, _time);
        var backoff = rotation.MarkFailed(0);

        var during = Enumerable.Range(0, 4).Select(_ => rotation.Pick()).ToList();
        _time.Advance(backoff);
        var after = Enumerable.Range(0, 2).Select(_ => rotation.Pick()).ToList();

        Assert.Equal(GatewayRotation.MinBackoff, backoff);
        Assert.All(during, p => Assert.Equal(1, p));
        Assert.Contains(0, after.Cast<int>());
    }

    [Fact]
    public void Pick_TriedAddressesLeftOut_NextLiveOneOrNullWhenAllTried()
    {
        var rotation = new GatewayRotation(3, _time);
        rotation.MarkFailed(1);

        Assert.Equal(2, rotation.Pick(tried: [0]));
        Assert.Null(rotation.Pick(tried: [0, 1, 2]));
    }

    [Fact]
    public void Pick_EveryAddressMarked_TriesTheOneWhoseBackoffEndsFirst()
    {
        var rotation = new GatewayRotation(2, _time);
        rotation.MarkFailed(1);
        rotation.MarkFailed(1);
        rotation.MarkFailed(0);

        // 0 was marked for 1 s, 1 for 2 s: an agent with only dead gateways still asks, the soonest back first.
        Assert.Equal(0, rotation.Pick());
        Assert.Equal(1, rotation.Pick(tried: [0]));
    }

    [Fact]
    public void MarkFailed_InARow_DoublesUpToTheMaximum()
    {
        var rotation = new GatewayRotation(2, _time);

        var backoffs = Enumerable.Range(0, 8).Select(_ => rotation.MarkFailed(0)).ToList();

        Assert.Equal(TimeSpan.FromSeconds(1), backoffs[0]);
        Assert.Equal(TimeSpan.FromSeconds(2), backoffs[1]);
        Assert.Equal(TimeSpan.FromSeconds(16), backoffs[4]);
        Assert.Equal(GatewayRotation.MaxBackoff, backoffs[7]);
    }

    [Fact]
    public void MarkSucceeded_AfterFailures_ClearsTheMarkAndRestartsTheBackoff()
    {
        var rotation = new GatewayRotation(2, _time);
        rotation.MarkFailed(0);
        rotation.MarkFailed(0);

        rotation.MarkSucceeded(0);

        Assert.False(rotation.IsBad(0));
        Assert.Equal(GatewayRotation.MinBackoff, rotation.MarkFailed(0));
        Assert.True(rotation.IsBad(0));
    }
}
