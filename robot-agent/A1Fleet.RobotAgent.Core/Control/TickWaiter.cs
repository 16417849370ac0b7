using System.Threading.Tasks.Sources;

namespace A1Fleet.RobotAgent.Control;

/// <summary>How a <see cref="TickWaiter"/> wait ended.</summary>
internal enum TickWake
{
    /// <summary>The time asked for is up (or a timer fire left over from an earlier wait: the caller checks the clock).</summary>
    Elapsed,

    /// <summary><see cref="TickWaiter.Wake"/> was called: something must be acted on before the next tick (an e-stop).</summary>
    Woken,

    /// <summary>The run is cancelled.</summary>
    Cancelled,
}

/// <summary>
/// A reusable wait on one <see cref="TimeProvider"/> timer: the control loop waits for its next tick every
/// period, and a Task.Delay per tick would allocate a task and a timer each time. Completes with
/// <see cref="TickWake.Elapsed"/> when the time is up, <see cref="TickWake.Woken"/> when <see cref="Wake"/> cut it
/// short, and <see cref="TickWake.Cancelled"/> when the run is cancelled. Continuations run inline on the timer's
/// callback (or on the thread that calls <see cref="Wake"/>), which also makes a fake TimeProvider's Advance run the
/// tick before it returns. A wake that comes while no wait is pending (the loop is in a tick) is kept and ends the
/// next wait at once, so none is lost.
/// </summary>
internal sealed class TickWaiter : IValueTaskSource<TickWake>, IDisposable
{
    private readonly ITimer _timer;
    private readonly CancellationTokenRegistration _registration;
    private ManualResetValueTaskSourceCore<TickWake> _core;
    private int _armed;
    private int _woken;
    private volatile bool _cancelled;

    public TickWaiter(TimeProvider time, CancellationToken cancellationToken)
    {
        _core.RunContinuationsAsynchronously = false;
        _timer = time.CreateTimer(static s => ((TickWaiter)s!).Complete(TickWake.Elapsed), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _registration = cancellationToken.UnsafeRegister(static s =>
        {
            var waiter = (TickWaiter)s!;
            waiter._cancelled = true;
            waiter.Complete(TickWake.Cancelled);
        }, this);
    }

    public ValueTask<TickWake> WaitAsync(TimeSpan delay)
    {
        _core.Reset();

        // Armed before the wake flag is read (both full fences), and Wake sets the flag before it reads the arming: a
        // wake racing this call either sees the wait armed or leaves its flag for the check below.
        Interlocked.Exchange(ref _armed, 1);
        if (_cancelled)
        {
            Complete(TickWake.Cancelled);
        }
        else if (Volatile.Read(ref _woken) == 1)
        {
            Complete(TickWake.Woken);
        }
        else
        {
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }

        return new ValueTask<TickWake>(this, _core.Version);
    }

    /// <summary>Ends the pending wait at once with <see cref="TickWake.Woken"/>, or the next one if none is pending. Thread-safe.</summary>
    public void Wake()
    {
        Interlocked.Exchange(ref _woken, 1);
        Complete(TickWake.Woken);
    }

    public TickWake GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        _registration.Dispose();
        _timer.Dispose();
    }

    private void Complete(TickWake how)
    {
        // The timer, a wake and the cancellation can race; only the first completes the pending wait.
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            if (how == TickWake.Woken)
            {
                // This wake is delivered; one that comes after this point belongs to the next wait.
                Interlocked.Exchange(ref _woken, 0);
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }

            _core.SetResult(how);
        }
    }
}
