using A1Fleet.Grains;
using A1Fleet.Silo.Api;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>
/// The e-stop retry as a plain class on fake time: the pause between attempts advances the fake clock by the
/// backoff it was asked for, so a test sees every attempt and the deadline without waiting.
/// </summary>
public sealed class SafetyCommandRetrierTests
{
    private static readonly RobotSelector Selector = new(RobotSelectorKind.Tag, "line-1");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<TimeSpan> _pauses = [];
    private readonly SafetyCommandOptions _options = new() { FirstBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromMilliseconds(400) };

    private SafetyCommandRetrier Retrier() => new(_options, _time, (delay, _) =>
    {
        lock (_pauses)
        {
            _pauses.Add(delay);
        }

        _time.Advance(delay);
        return Task.CompletedTask;
    });

    private static EStopConfirmation Confirmed(string id) => new(id, 1, true, true, true, null);

    [Fact]
    public async Task RunAsync_RobotFailsTwiceThenConfirms_RetriesWithBackoffAndReportsItConfirmed()
    {
        var calls = 0;
        var report = await Retrier().RunAsync("estop", Selector, _ => Task.FromResult<IReadOnlyList<string>>(["r1"]), (id, _) =>
            ++calls < 3 ? throw new TimeoutException("silo died") : Task.FromResult(Confirmed(id)), TimeSpan.FromSeconds(5));

        Assert.True(report.AllConfirmed);
        Assert.Null(report.Error);
        var robot = Assert.Single(report.Robots);
        Assert.True(robot.Confirmed);
        Assert.Equal(3, robot.Attempts);
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)], _pauses);
    }

    [Fact]
    public async Task RunAsync_OneRobotNeverPersists_ReportsItUnconfirmedWithWhyAndTheOthersConfirmed()
    {
        var report = await Retrier().RunAsync("estop", Selector, _ => Task.FromResult<IReadOnlyList<string>>(["ok", "stuck"]), (id, _) =>
            Task.FromResult(id == "stuck" ? new EStopConfirmation(id, 1, false, true, true, "not persisted: storage down") : Confirmed(id)),
            TimeSpan.FromSeconds(2));

        Assert.False(report.AllConfirmed);
        Assert.Contains("1 of 2", report.Error, StringComparison.Ordinal);
        Assert.True(report.Robots.Single(r => r.RobotId == "ok").Confirmed);
        var stuck = report.Robots.Single(r => r.RobotId == "stuck");
        Assert.False(stuck.Confirmed);
        Assert.True(stuck.Pushed);
        Assert.Equal("not persisted: storage down", stuck.Error);
        Assert.True(stuck.Attempts > 3);
        Assert.True(_time.GetUtcNow() - new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) <= TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task RunAsync_ResolvingFailsWhileASiloDies_RetriesTheSelectorThenStopsEveryRobot()
    {
        var resolves = 0;
        var report = await Retrier().RunAsync("estop", Selector, _ =>
            ++resolves == 1 ? throw new InvalidOperationException("fleet grain's silo is gone") : Task.FromResult<IReadOnlyList<string>>(["a", "b"]),
            (id, _) => Task.FromResult(Confirmed(id)), TimeSpan.FromSeconds(5));

        Assert.True(report.AllConfirmed);
        Assert.Equal(2, resolves);
        Assert.Equal(["a", "b"], report.Robots.Select(r => r.RobotId));
    }

    [Fact]
    public async Task RunAsync_SelectorNeverResolves_AnswersUnconfirmedWithTheReasonInsteadOfThrowing()
    {
        var report = await Retrier().RunAsync("estop", Selector, _ => throw new InvalidOperationException("no silo answers"),
            (id, _) => Task.FromResult(Confirmed(id)), TimeSpan.FromSeconds(1));

        Assert.False(report.AllConfirmed);
        Assert.Empty(report.Robots);
        Assert.Contains("no silo answers", report.Error, StringComparison.Ordinal);
        Assert.Contains("tag:line-1", report.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Backoff_DoublesFromTheFirstAndStopsAtTheMax() =>
        Assert.Equal([100, 200, 400, 400], Enumerable.Range(1, 4).Select(a => Retrier().Backoff(a).TotalMilliseconds));

    [Fact]
    public void Validate_DefaultDeadlineBeyondTheMax_NamesBothSettings()
    {
        var result = new SafetyCommandOptionsValidator().Validate(null, new SafetyCommandOptions { DefaultDeadline = TimeSpan.FromMinutes(1) });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("DefaultDeadline", StringComparison.Ordinal) && f.Contains("MaxDeadline", StringComparison.Ordinal));
        Assert.True(new SafetyCommandOptionsValidator().Validate(null, new SafetyCommandOptions()).Succeeded);
    }
}
