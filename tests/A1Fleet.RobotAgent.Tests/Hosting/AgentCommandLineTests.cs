using A1Fleet.RobotAgent.Host;

namespace A1Fleet.RobotAgent.Tests.Hosting;

/// <summary>a1-agent's command line: switches to configuration keys, and wrong command lines refused before anything starts.</summary>
public sealed class AgentCommandLineTests
{
    [Fact]
    public async Task Run_KnownSwitches_BecomeTheirConfigurationKeysAndNothingElse()
    {
        IReadOnlyDictionary<string, string?>? seen = null;

        var code = await AgentCommandLine.RunAsync(
            ["--robot-id", "arm-1", "--embodiment", "dobot", "--gateway", "https://a:8443,https://b:8443", "--tags", "lab,left", "--metrics-port", "9470"],
            (settings, _) => { seen = settings; return Task.FromResult(AgentCommandLine.Ok); }, TextWriter.Null);

        Assert.Equal(AgentCommandLine.Ok, code);
        Assert.NotNull(seen);
        Assert.Equal(5, seen.Count);
        Assert.Equal("arm-1", seen["A1Fleet:Agent:RobotId"]);
        Assert.Equal("dobot", seen["A1Fleet:Agent:Embodiment"]);
        Assert.Equal("https://a:8443,https://b:8443", seen["A1Fleet:AgentHost:Gateway"]);
        Assert.Equal("lab,left", seen["A1Fleet:AgentHost:Tags"]);
        Assert.Equal("9470", seen["A1Fleet:AgentHost:MetricsPort"]);
    }

    [Theory]
    [InlineData("--robot-id arm-1 --bogus 3", "--bogus")]
    [InlineData("--robot-id", "--robot-id")]
    [InlineData("--robot-id arm-1 stray", "stray")]
    public async Task Run_WrongCommandLine_ExitsWithUsageNamingTheProblemAndStartsNothing(string commandLine, string named)
    {
        var ran = false;
        using var error = new StringWriter();

        var code = await AgentCommandLine.RunAsync(commandLine.Split(' '), (_, _) => { ran = true; return Task.FromResult(AgentCommandLine.Ok); }, error);

        Assert.Equal(AgentCommandLine.Usage, code);
        Assert.False(ran);
        Assert.Contains(named, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_RunFails_ItsExitCodeIsTheProcesss()
    {
        var code = await AgentCommandLine.RunAsync(["--robot-id", "arm-1"], (_, _) => Task.FromResult(AgentCommandLine.Failed), TextWriter.Null);

        Assert.Equal(AgentCommandLine.Failed, code);
    }
}
