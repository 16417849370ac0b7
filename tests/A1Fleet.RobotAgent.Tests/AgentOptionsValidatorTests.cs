namespace A1Fleet.RobotAgent.Tests;

public sealed class AgentOptionsValidatorTests
{
    [Fact]
    public void Validate_DefaultsWithRobotId_Succeeds()
    {
        var result = new AgentOptionsValidator().Validate(null, new AgentOptions { RobotId = "arm-1" });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_EveryProblem_ListedWithItsFix()
    {
        var options = new AgentOptions
        {
            RobotId = "",
            ModelId = " ",
            Tags = ["ok", "a,b"],
            RequestAheadShare = 0,
            BlendSteps = -1,
            ReportIntervalSeconds = 0,
            RebindBackoffMinSeconds = 2,
            RebindBackoffMaxSeconds = 1,
        };

        var result = new AgentOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToArray();
        Assert.Equal(7, failures.Length);
        Assert.Contains(failures, f => f.Contains("RobotId is empty", StringComparison.Ordinal) && f.Contains("--robot-id", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ModelId", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'a,b'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("RequestAheadShare", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("BlendSteps", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ReportIntervalSeconds", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("RebindBackoffMaxSeconds 1 is below", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(-1)]
    [InlineData(1001)]
    [InlineData(double.NaN)]
    public void Validate_RejectSpeedFactorOutOfRange_FailsNamingIt(double factor)
    {
        var result = new AgentOptionsValidator().Validate(null, new AgentOptions { RobotId = "arm-1", RejectSpeedFactor = factor });

        Assert.True(result.Failed);
        Assert.Contains("RejectSpeedFactor", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(20)]
    public void Validate_RejectSpeedFactorOffOrInRange_Passes(double factor) =>
        Assert.True(new AgentOptionsValidator().Validate(null, new AgentOptions { RobotId = "arm-1", RejectSpeedFactor = factor }).Succeeded);

    [Fact]
    public void EffectiveSeed_Unset_StableFromTheRobotId()
    {
        var a = new AgentOptions { RobotId = "arm-1" };
        var b = new AgentOptions { RobotId = "arm-1" };
        var c = new AgentOptions { RobotId = "arm-2" };

        Assert.Equal(a.EffectiveSeed, b.EffectiveSeed);
        Assert.NotEqual(a.EffectiveSeed, c.EffectiveSeed);
        Assert.Equal(42, new AgentOptions { RobotId = "arm-1", Seed = 42 }.EffectiveSeed);
    }
}
