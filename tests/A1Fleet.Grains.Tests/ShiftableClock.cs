namespace A1Fleet.Grains.Tests;

/// <summary>
/// The test cluster's clock: the system clock plus an offset a test moves forward, so a lease can lapse without
/// the test waiting for it. Only wall-clock time moves; timestamps and timers stay the system's, because Orleans
/// itself runs on this provider and a clock that never ticks (FakeTimeProvider) would stop its timers. Tests in
/// the cluster collection run one at a time, so one test's jump cannot land in the middle of another's.
/// </summary>
public sealed class ShiftableClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        Interlocked.Add(ref _offsetTicks, by.Ticks);
    }
}
