using A1Fleet.EarlyExit;

namespace A1Fleet.Calibration.Tests.Calibration;

/// <summary>The calibration rules the job CLI, the stand-alone run, the HTTP API's bodies, a1ctl and the fleet's job grain all ask.</summary>
public sealed class CalibrationRulesTests
{
    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(CalibrationRules.MaxBatchSize, true)]
    [InlineData(CalibrationRules.MaxBatchSize + 1, false)]
    [InlineData(1024, false)]
    public void BatchSize_OneRange_ForEveryEntryPoint(int batchSize, bool allowed)
    {
        Assert.Equal(allowed, CalibrationRules.BatchSizeProblem(batchSize) is null);
        Assert.Equal(allowed, !new CalibrationSettings { BatchSize = batchSize }.Validate().Any(e => e.StartsWith("batch size", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(0.0, true)]
    [InlineData(0.25, true)]
    [InlineData(1.0, false)]
    [InlineData(-0.1, false)]
    [InlineData(double.NaN, false)]
    [InlineData(double.PositiveInfinity, false)]
    public void HoldoutShare_NaNAndOutOfRange_AreRefused(double share, bool allowed)
    {
        Assert.Equal(allowed, CalibrationRules.HoldoutShareProblem(share) is null);
        Assert.Equal(allowed, !new CalibrationSettings { HoldoutShare = share }.Validate().Any(e => e.StartsWith("holdout share", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(CalibrationRules.MaxShards, true)]
    [InlineData(CalibrationRules.MaxShards + 1, false)]
    public void Shards_WithinTheLimit_AreAllowed(int shards, bool allowed) =>
        Assert.Equal(allowed, CalibrationRules.ShardsProblem(shards) is null);
}
