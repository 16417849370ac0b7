using System.Threading.Tasks.Sources;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// A reusable wait on one <see cref="TimeProvider"/> timer: the control loop waits for its next tick every
/// period, and a Task.Delay per tick would allocate a task and a timer each time. Completes with true when
/// the time is up and false when the run is cancelled. Continuations run inline on the timer's callback,
/// which also makes a fake TimeProvider's Advance run the tick before it returns.
/// </summary>
internal sealed class TickWaiter : IValueTaskSource<bool>, IDisposable
{
    private readonly ITimer _timer;
    private readonly CancellationTokenRegistration _registration;
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _armed;
    private volatile bool _cancelled;

    public TickWaiter(TimeProvider time, CancellationToken cancellationToken)
    {
        _core.RunContinuationsAsynchronously = false;
        _timer = time.CreateTimer(static s => ((TickWaiter)s!).Complete(true), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _registration = cancellationToken.UnsafeRegister(static s =>
        {
            var waiter = (TickWaiter)s!;
            waiter._cancelled = true;
            waiter.Complete(false);
        }, this);
    }

    public ValueTask<bool> WaitAsync(TimeSpan delay)
    {
        _core.Reset();
        Volatile.Write(ref _armed, 1);
        if (_cancelled)
        {
            Complete(false);
        }
        else
        {
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    public bool GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        _registration.Dispose();
        _timer.Dispose();
    }

    private void Complete(bool elapsed)
    {
        // The timer and the cancellation can race; only the first completes the pending wait.
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _core.SetResult(elapsed);
        }
    }
}
