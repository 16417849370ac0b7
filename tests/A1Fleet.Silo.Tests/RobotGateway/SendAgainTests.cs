using System.Reflection;
using A1Fleet.Silo.RobotGateway;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>A gateway call rejected because its grain lived on a silo just declared dead is sent again, a few times, a short pause apart.</summary>
public sealed class SendAgainTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly List<Exception> _sentAgain = [];

    [Fact]
    public async Task SendAgainAsync_RejectedOnceMoreRightAfterTheVerdict_SentAgainAfterAPauseAndAnswered()
    {
        var calls = 0;
        Task<int> Call() => ++calls == 1 ? Task.FromException<int>(Rejection()) : Task.FromResult(42);

        var answered = RobotGatewayService.SendAgainAsync(Call, Rejection(), () => Task.FromResult(true), _time, _sentAgain.Add);
        await WaitUntil(() => calls == 1);
        Assert.False(answered.IsCompleted);
        await AdvanceUntil(() => calls == 2, RobotGatewayService.SendAgainPause);

        Assert.Equal(42, await answered);
        Assert.Equal(2, calls);
        Assert.Equal(2, _sentAgain.Count);
    }

    [Fact]
    public async Task SendAgainAsync_NoSiloDeclaredDead_TheRejectionStandsAndNothingIsSent()
    {
        var calls = 0;
        var rejection = Rejection();

        var thrown = await Assert.ThrowsAsync<OrleansMessageRejectionException>(() =>
            RobotGatewayService.SendAgainAsync(() => Task.FromResult(++calls), rejection, () => Task.FromResult(false), _time, _sentAgain.Add));

        Assert.Same(rejection, thrown);
        Assert.Equal(0, calls);
        Assert.Empty(_sentAgain);
    }

    [Fact]
    public async Task SendAgainAsync_RejectedEveryTime_GivesUpAfterMaxSendsAgainWithTheLastRejection()
    {
        var calls = 0;
        var last = Rejection();
        Task<int> Call() => Task.FromException<int>(++calls == RobotGatewayService.MaxSendsAgain ? last : Rejection());

        var answered = RobotGatewayService.SendAgainAsync(Call, Rejection(), () => Task.FromResult(true), _time, _sentAgain.Add);
        for (var pause = 1; pause < RobotGatewayService.MaxSendsAgain; pause++)
        {
            await WaitUntil(() => calls == pause);
            await AdvanceUntil(() => calls == pause + 1, RobotGatewayService.SendAgainPause * pause);
        }

        var thrown = await Assert.ThrowsAsync<OrleansMessageRejectionException>(() => answered);
        Assert.Same(last, thrown);
        Assert.Equal(RobotGatewayService.MaxSendsAgain, calls);
    }

    // Orleans makes this exception only inside; the gateway meets it as Orleans throws it.
    private static OrleansMessageRejectionException Rejection() => (OrleansMessageRejectionException)Activator.CreateInstance(
        typeof(OrleansMessageRejectionException), BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, null,
        ["Exception while sending message: the target silo is dead"], null)!;

    /// <summary>
    /// Moves the fake clock on by <paramref name="step"/> until <paramref name="condition"/> holds. The call counted before
    /// the retry's pause was armed: a single step taken in between would pass before the pause exists and never end it
    /// (this test once hung CI so).
    /// </summary>
    private async Task AdvanceUntil(Func<bool> condition, TimeSpan step)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            _time.Advance(step);
            await Task.Delay(1, timeout.Token);
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(1, timeout.Token);
        }
    }
}
