using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Demo;

/// <summary>The README's main job ends as a user expects: at its duration, exit code 0, a summary and no stack traces.</summary>
public sealed class DemoShutdownTests
{
    [Fact]
    public async Task Demo_RunsItsDuration_ExitsZeroWithoutErrorsOrStackTraces()
    {
        // The default model, as the README runs it. Robot grains' last counter writes raced the silo's shutdown: Orleans
        // logged each lost one as "fail:" with the memory store's stack trace (about every other run before the demo
        // waited a flush interval, and now and then on a loaded machine after; since, it gives its robots back first).
        using var demo = new ChildProcess("fleet-demo", "dotnet", [
            Repo.BuiltDll("demo/A1Fleet.Demo", "A1Fleet.Demo.dll"),
            "fleet", "--agents", "4", "--duration", "10", "--urls", $"http://127.0.0.1:{Ports.Free()}",
            $"--A1Fleet:Silo:SiloPort={Ports.Free()}", $"--A1Fleet:Silo:GatewayPort={Ports.Free()}", $"--A1Fleet:RobotGateway:Port={Ports.Free()}",
            $"--A1Fleet:Compat:OpenPiPort={Ports.Free()}", $"--A1Fleet:Compat:A1HttpPort={Ports.Free()}",
        ]);

        var exit = await demo.WaitForExitAsync(TimeSpan.FromMinutes(4));

        Assert.True(exit == 0, demo.Describe());
        Assert.Contains("chunks served", demo.Output, StringComparison.Ordinal);
        Assert.False(demo.Output.Contains("fail:", StringComparison.Ordinal), demo.Describe());
        Assert.False(demo.Output.Contains("   at ", StringComparison.Ordinal), demo.Describe());
    }

    [Theory]
    [InlineData("--duration", "abc")]
    [InlineData("--duration", "-5")]
    [InlineData("--agents", "four")]
    public async Task Demo_BadNumber_ExitsTwoNamingTheOptionWithoutAStackTrace(string option, string value)
    {
        using var demo = new ChildProcess("fleet-demo", "dotnet", [Repo.BuiltDll("demo/A1Fleet.Demo", "A1Fleet.Demo.dll"), "fleet", option, value]);

        var exit = await demo.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.True(exit == 2, demo.Describe());
        Assert.Contains($"{option} '{value}'", demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", demo.Output, StringComparison.Ordinal);
    }
}
