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
    private readonly ConcurrentQueue<(RobotCommand Command, CommandRoute Route)> _queue = new();
    private Action? _wake;

    /// <summary>Queues <paramref name="command"/>, which reached the agent by <paramref name="route"/>; an e-stop wakes the loop.</summary>
    public void Post(RobotCommand command, CommandRoute route = CommandRoute.Pushed)
    {
        _queue.Enqueue((command, route));
        if (command.Kind == RobotCommandKind.EStop)
        {
            // After the enqueue: the tick the wake runs must find it.
            Volatile.Read(ref _wake)?.Invoke();
        }
    }

    public bool TryTake(out RobotCommand command) => TryTake(out command, out _);

    public bool TryTake(out RobotCommand command, out CommandRoute route)
    {
        if (_queue.TryDequeue(out var posted))
        {
            (command, route) = posted;
            return true;
        }

        (command, route) = (null!, default);
        return false;
    }

    public int Count => _queue.Count;

    /// <summary>What a posted e-stop calls (the running control loop's wake; null when none runs). May run the tick inline.</summary>
    internal void WakeOnEStop(Action? wake) => Volatile.Write(ref _wake, wake);
}

/// <summary>How a command reached the agent: what the e-stop-to-hold time of a latch is made of (see <see cref="ControlLoop.EStopRoute"/>).</summary>
public enum CommandRoute
{
    /// <summary>Pushed by the fleet: the gateway's Commands stream (or the Orleans observer of an in-process agent).</summary>
    Pushed = 0,

    /// <summary>The lease a bind returned: the fleet's word on e-stop at that moment.</summary>
    Bind = 1,

    /// <summary>The answer to a chunk request: the grain said hold, e-stopped.</summary>
    Reply = 2,
}
