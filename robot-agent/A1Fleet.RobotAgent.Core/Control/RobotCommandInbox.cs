using System.Collections.Concurrent;
using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// Commands pushed by the fleet (e-stop, resume, task change, lease revoked), posted from Orleans or gRPC threads and
/// taken by the control loop at the start of a tick. An e-stop also wakes the loop (<see cref="ControlLoop"/>), which
/// runs its tick at once instead of at the next period: the controlled stop starts when the e-stop arrives, not up to
/// a period later. The other commands wait for the next tick.
/// </summary>
public sealed class RobotCommandInbox
{
    private readonly ConcurrentQueue<RobotCommand> _queue = new();
    private Action? _wake;

    public void Post(RobotCommand command)
    {
        _queue.Enqueue(command);
        if (command.Kind == RobotCommandKind.EStop)
        {
            // After the enqueue: the tick the wake runs must find it.
            Volatile.Read(ref _wake)?.Invoke();
        }
    }

    public bool TryTake(out RobotCommand command) => _queue.TryDequeue(out command!);

    public int Count => _queue.Count;

    /// <summary>What a posted e-stop calls (the running control loop's wake; null when none runs). May run the tick inline.</summary>
    internal void WakeOnEStop(Action? wake) => Volatile.Write(ref _wake, wake);
}
