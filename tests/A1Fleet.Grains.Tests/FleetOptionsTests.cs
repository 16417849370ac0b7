using A1Fleet.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace A1Fleet.Grains.Tests;

[Collection(FleetClusterCollection.Name)]
public sealed class FleetOptionsTests(FleetClusterFixture fixture)
{
    [Theory]
    [InlineData("00:00:00.500")]
    [InlineData("02:00:00")]
    public void Validate_CalibrationReminderPeriodOutOfRange_NamesTheSettingAndItsRange(string period)
    {
        var result = new FleetOptionsValidator().Validate(null, new FleetOptions { CalibrationReminderPeriod = TimeSpan.Parse(period) });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures, f => f.Contains("A1Fleet:Fleet:CalibrationReminderPeriod", StringComparison.Ordinal) && f.Contains("00:00:01..01:00:00", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0, 1, "A1Fleet:Fleet:MaxQueuedRequests")]
    [InlineData(200_000, 1, "A1Fleet:Fleet:MaxQueuedRequests")]
    [InlineData(256, 0, "A1Fleet:Fleet:MaxQueuedPerRobot")]
    [InlineData(8, 9, "A1Fleet:Fleet:MaxQueuedPerRobot")]
    public void Validate_QueueBoundsOutOfRange_NamesTheSetting(int queued, int perRobot, string setting)
    {
        var result = new FleetOptionsValidator().Validate(null, new FleetOptions { MaxQueuedRequests = queued, MaxQueuedPerRobot = perRobot });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures, f => f.StartsWith(setting, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Defaults_Succeed() => Assert.True(new FleetOptionsValidator().Validate(null, new FleetOptions()).Succeeded);

    [Fact]
    public void AddA1Fleet_CalibrationReminderPeriodBelowOrleansMinimum_LowersTheMinimumToMatch()
    {
        // The fixture's silos run with a 5 s calibration reminder period; Orleans' own minimum is 1 minute.
        var silo = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress);
        Assert.Equal(TimeSpan.FromSeconds(5), silo.GetRequiredService<IOptions<FleetOptions>>().Value.CalibrationReminderPeriod);
        Assert.Equal(TimeSpan.FromSeconds(5), silo.GetRequiredService<IOptions<ReminderOptions>>().Value.MinimumReminderPeriod);
    }
}
