using System.Collections.Concurrent;
using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// Commands pushed by the fleet (e-stop, resume, task change, lease revoked), posted from Orleans threads and
/// taken by the control loop at the start of its next tick: that is what bounds an e-stop to one control period.
/// </summary>
public sealed class RobotCommandInbox
{
    private readonly ConcurrentQueue<RobotCommand> _queue = new();

    public void Post(RobotCommand command) => _queue.Enqueue(command);

    public bool TryTake(out RobotCommand command) => _queue.TryDequeue(out command!);

    public int Count => _queue.Count;
}
