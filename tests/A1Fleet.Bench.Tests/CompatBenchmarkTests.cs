namespace A1Fleet.Bench.Tests;

public sealed class CompatBenchmarkTests
{
    [Fact]
    public void ParseRefusal_DeadlineNotNow_RetryHintInMilliseconds()
    {
        // The text frame the openpi endpoint sent a bench client at 3x load (CompatSessions' wording).
        var text = "robot 'compat-bench-20': not now, deadline: cannot finish by the deadline even at the first exit: 200.0 ms left, "
            + "200.7 ms predicted with the work queued ahead; ask again after 175 ms";

        var refusal = CompatBenchmark.ParseRefusal(text);

        Assert.NotNull(refusal);
        Assert.Equal(TimeSpan.FromMilliseconds(175), refusal.RetryAfter);
        Assert.Equal(text, refusal.Text);
    }

    [Theory]
    [InlineData("observation/state: has 9 values; model expects a state of 6 in all")]
    [InlineData("robot 'r1' is e-stopped: no actions are sent until an operator resumes it")]
    [InlineData("robot 'r1': not now, deadline: no hint")]
    public void ParseRefusal_AnyOtherFailure_Null(string text) => Assert.Null(CompatBenchmark.ParseRefusal(text));
}
