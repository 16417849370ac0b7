using A1Fleet.Grains.Robots;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Grains.Tests.Robots;

public sealed class ArmActionsTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void LeftMs_NoChunkIssued_Unknown()
    {
        Assert.Null(new ArmActions(_time).LeftMs(_time.GetTimestamp()));
    }

    [Fact]
    public void LeftMs_ChunkIssued_RunsFromItsObservationsCaptureAtTheControlRate()
    {
        var arm = new ArmActions(_time);
        var arrived = _time.GetTimestamp();

        // Ten actions at 20 Hz for an observation 30 ms old on arrival: they last until 470 ms after the arrival.
        arm.Issued(arrived, ageMs: 30, steps: 10, controlHz: 20);
        _time.Advance(TimeSpan.FromMilliseconds(120));

        Assert.Equal(350, arm.LeftMs(_time.GetTimestamp())!.Value, 6);
        _time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal(0, arm.LeftMs(_time.GetTimestamp()));
    }

    [Fact]
    public void Issued_AnOlderChunkAnsweredLater_NeverShortensWhatTheArmHolds()
    {
        var arm = new ArmActions(_time);
        var first = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps: 10, controlHz: 20);

        arm.Issued(first, ageMs: 0, steps: 10, controlHz: 20);

        Assert.Equal(500, arm.LeftMs(_time.GetTimestamp())!.Value, 6);
    }

    [Fact]
    public void Reported_ByTheAgent_ReplacesTheEstimateEvenWhenShorter()
    {
        var arm = new ArmActions(_time);
        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps: 10, controlHz: 20);

        // The agent dropped that chunk (say, it came too late to splice): it holds 2 actions at a capture 10 ms old.
        arm.Reported(_time.GetTimestamp(), ageMs: 10, actions: 2, controlHz: 20);

        Assert.Equal(90, arm.LeftMs(_time.GetTimestamp())!.Value, 6);
    }

    [Fact]
    public void Reported_BeforeAnyChunkWasIssued_IsWhatTheArmHolds()
    {
        var arm = new ArmActions(_time);
        arm.Bound(_time.GetTimestamp(), controlHz: 20);

        arm.Reported(_time.GetTimestamp(), ageMs: 0, actions: 5, controlHz: 20);
        _time.Advance(TimeSpan.FromMilliseconds(100));

        Assert.Equal(150, arm.LeftMs(_time.GetTimestamp())!.Value, 6);
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(20, -1)]
    [InlineData(double.NaN, 3)]
    public void Reported_NoControlRateOrANegativeCount_KeepsTheEstimate(double controlHz, int actions)
    {
        var arm = new ArmActions(_time);
        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps: 10, controlHz: 20);

        arm.Reported(_time.GetTimestamp(), ageMs: 0, actions, controlHz);

        Assert.Equal(500, arm.LeftMs(_time.GetTimestamp())!.Value, 6);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(20, 0)]
    [InlineData(double.NaN, 10)]
    public void Issued_NoControlRateOrNoActions_StaysUnknown(double controlHz, int steps)
    {
        var arm = new ArmActions(_time);

        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps, controlHz);

        Assert.Null(arm.LeftMs(_time.GetTimestamp()));
    }

    [Fact]
    public void Bound_AnotherAgentWithAControlRate_HoldsNothingYet()
    {
        var arm = new ArmActions(_time);
        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps: 10, controlHz: 20);

        arm.Bound(_time.GetTimestamp(), controlHz: 20);

        Assert.Equal(0, arm.LeftMs(_time.GetTimestamp()));
    }

    [Fact]
    public void Bound_AgentWithoutAControlRate_Unknown()
    {
        var arm = new ArmActions(_time);
        arm.Issued(_time.GetTimestamp(), ageMs: 0, steps: 10, controlHz: 20);

        arm.Bound(_time.GetTimestamp(), controlHz: 0);

        Assert.Null(arm.LeftMs(_time.GetTimestamp()));
    }
}
