using A1Fleet.Silo.RobotGateway;

namespace A1Fleet.Silo.Tests.RobotGateway;

public sealed class RobotGatewayOptionsTests
{
    [Fact]
    public void Validate_Defaults_Succeed_AndAllowA30HzArmAskingEveryTick()
    {
        var options = new RobotGatewayOptions();

        Assert.True(new RobotGatewayOptionsValidator().Validate(null, options).Succeeded);
        // 30 Act, a heartbeat and a counter report per second, with room to spare.
        Assert.True(options.RequestsPerSecond >= 3 * 32, $"RequestsPerSecond {options.RequestsPerSecond}");
        Assert.True(options.RequestBurst >= options.RequestsPerSecond, $"RequestBurst {options.RequestBurst}");
    }

    [Fact]
    public void Validate_ZeroRateAndBurst_ReportsBothSettings()
    {
        var result = new RobotGatewayOptionsValidator().Validate(null, new RobotGatewayOptions { RequestsPerSecond = 0, RequestBurst = 0 });

        Assert.True(result.Failed);
        Assert.Contains("A1Fleet:RobotGateway:RequestsPerSecond 0", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("A1Fleet:RobotGateway:RequestBurst 0", result.FailureMessage, StringComparison.Ordinal);
    }
}
