using A1Fleet.Silo.Compat;

namespace A1Fleet.Silo.Tests.Compat;

public sealed class CompatOptionsTests
{
    [Fact]
    public void Validate_Defaults_AreValidAndServeNothing()
    {
        var options = new CompatOptions();

        Assert.True(new CompatOptionsValidator().Validate(null, options).Succeeded);
        Assert.Null(options.OpenPiPort);
        Assert.Null(options.A1HttpPort);
    }

    [Theory]
    [InlineData("OpenPiPort")]
    [InlineData("A1HttpPort")]
    [InlineData("OpenPiPath")]
    [InlineData("BindAddress")]
    [InlineData("MaxRequestBytes")]
    [InlineData("A1SessionIdleSeconds")]
    [InlineData("KeepAliveSeconds")]
    public void Validate_BadSetting_FailsNamingIt(string setting)
    {
        var options = new CompatOptions();
        switch (setting)
        {
            case "OpenPiPort": options.OpenPiPort = 70000; break;
            case "A1HttpPort": options.OpenPiPort = options.A1HttpPort = 8000; break;
            case "OpenPiPath": options.OpenPiPath = "ws"; break;
            case "BindAddress": options.BindAddress = "robots.local"; break;
            case "MaxRequestBytes": options.MaxRequestBytes = 10; break;
            case "A1SessionIdleSeconds": options.A1SessionIdleSeconds = double.NaN; break;
            default: options.KeepAliveSeconds = 0; break;
        }

        var result = new CompatOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"A1Fleet:Compat:{setting}", result.FailureMessage);
    }
}
