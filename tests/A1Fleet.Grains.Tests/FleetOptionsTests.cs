using A1Fleet.EarlyExit;
using A1Fleet.Grains.Calibration;
using A1Fleet.Grains.Inference;
using A1Fleet.Grains.Robots;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace A1Fleet.Grains.Tests;

/// <summary>The fleet's options, one class per component, each with its validator naming the setting and its range.</summary>
[Collection(FleetClusterCollection.Name)]
public sealed class FleetOptionsTests(FleetClusterFixture fixture)
{
    [Theory]
    [InlineData("00:00:00.500")]
    [InlineData("02:00:00")]
    public void Validate_CalibrationReminderPeriodOutOfRange_NamesTheSettingAndItsRange(string period)
    {
        var result = new CalibrationJobGrainOptionsValidator().Validate(null, new CalibrationJobGrainOptions { ReminderPeriod = TimeSpan.Parse(period, System.Globalization.CultureInfo.InvariantCulture) });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures, f => f.Contains("A1Fleet:CalibrationJobs:ReminderPeriod", StringComparison.Ordinal) && f.Contains("00:00:01..01:00:00", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0, 1, "A1Fleet:Inference:Batching:MaxQueuedRequests")]
    [InlineData(200_000, 1, "A1Fleet:Inference:Batching:MaxQueuedRequests")]
    [InlineData(256, 0, "A1Fleet:Inference:Batching:MaxQueuedPerRobot")]
    [InlineData(8, 9, "A1Fleet:Inference:Batching:MaxQueuedPerRobot")]
    public void Validate_QueueBoundsOutOfRange_NamesTheSetting(int queued, int perRobot, string setting)
    {
        var result = new InferenceBatchingOptionsValidator().Validate(null, new InferenceBatchingOptions { MaxQueuedRequests = queued, MaxQueuedPerRobot = perRobot });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures, f => f.StartsWith(setting, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:00:02")]
    public void Validate_MaxGatherOutOfRange_NamesTheSetting(string gather)
    {
        var result = new InferenceBatchingOptionsValidator().Validate(null, new InferenceBatchingOptions { MaxGather = TimeSpan.Parse(gather, System.Globalization.CultureInfo.InvariantCulture) });
        Assert.Contains(result.Failures ?? [], f => f.StartsWith("A1Fleet:Inference:Batching:MaxGather", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:01:01")]
    public void Validate_DefaultLatencyBudgetOutOfRange_NamesTheSettingWithTheBudgetRule(string budget)
    {
        var result = new RobotOptionsValidator().Validate(null, new RobotOptions { DefaultLatencyBudget = TimeSpan.Parse(budget, System.Globalization.CultureInfo.InvariantCulture) });
        Assert.Contains(result.Failures ?? [], f => f.StartsWith("A1Fleet:Robots:DefaultLatencyBudget", StringComparison.Ordinal) && f.Contains("60000", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:01:01")]
    public void Validate_HedgeTransportOutOfRange_NamesTheSetting(string transport)
    {
        var result = new RobotOptionsValidator().Validate(null, new RobotOptions { HedgeTransport = TimeSpan.Parse(transport, System.Globalization.CultureInfo.InvariantCulture) });
        Assert.Contains(result.Failures ?? [], f => f.StartsWith("A1Fleet:Robots:HedgeTransport", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("exit-warm-k2", Decoding.ExitWarmK2)]
    [InlineData("EXIT-COLD-K10", Decoding.ExitColdK10)]
    [InlineData("full-k10", Decoding.FullK10)]
    [InlineData("ExitColdK2", Decoding.ExitColdK2)]
    public void Bind_DecodeByItsDocumentedName_ReadsTheEnum(string configured, Decoding expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Decode"] = configured }).Build();
        Assert.Equal(expected, configuration.Get<InferenceBatchingOptions>()!.Decode);
    }

    [Theory]
    [InlineData("exit-warm-k3")]
    [InlineData("7")]
    public void Bind_UnknownDecode_FailsListingTheNames(string configured)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Decode"] = configured }).Build();
        var error = Assert.Throws<InvalidOperationException>(() => configuration.Get<InferenceBatchingOptions>());
        Assert.Contains("exit-warm-k2", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_Defaults_Succeed()
    {
        Assert.True(new FleetOptionsValidator().Validate(null, new FleetOptions()).Succeeded);
        Assert.True(new RobotOptionsValidator().Validate(null, new RobotOptions()).Succeeded);
        Assert.True(new InferenceBatchingOptionsValidator().Validate(null, new InferenceBatchingOptions()).Succeeded);
        Assert.True(new CalibrationJobGrainOptionsValidator().Validate(null, new CalibrationJobGrainOptions()).Succeeded);
    }

    [Fact]
    public void AddA1Fleet_SectionsPerComponent_AreBoundFromTheirKeys()
    {
        var silo = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress);
        Assert.Equal(TimeSpan.FromSeconds(2), silo.GetRequiredService<IOptions<RobotOptions>>().Value.DefaultLatencyBudget);
        Assert.Equal(TimeSpan.FromMilliseconds(50), silo.GetRequiredService<IOptions<RobotOptions>>().Value.CounterFlushInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(20), silo.GetRequiredService<IOptions<InferenceBatchingOptions>>().Value.MaxGather);
        Assert.Equal(FleetClusterFixture.MaxAssignmentsKept, silo.GetRequiredService<IOptions<FleetOptions>>().Value.MaxAssignmentsKept);
    }

    [Fact]
    public void AddA1Fleet_CalibrationReminderPeriodBelowOrleansMinimum_LowersTheMinimumToMatch()
    {
        // The fixture's silos run with a 5 s calibration reminder period; Orleans' own minimum is 1 minute.
        var silo = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress);
        Assert.Equal(TimeSpan.FromSeconds(5), silo.GetRequiredService<IOptions<CalibrationJobGrainOptions>>().Value.ReminderPeriod);
        Assert.Equal(TimeSpan.FromSeconds(5), silo.GetRequiredService<IOptions<ReminderOptions>>().Value.MinimumReminderPeriod);
    }
}
