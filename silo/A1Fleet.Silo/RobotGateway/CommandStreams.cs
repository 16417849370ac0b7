using System.Collections.Concurrent;
using System.Threading.Channels;
using A1Fleet.Grains;
using A1Fleet.Grains.Robots;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>
/// This silo's open Commands streams, one per robot (a newer stream for the same robot replaces the older one, which
/// ends), and the model spec each bound robot's observations are checked against.
/// </summary>
public sealed class CommandStreams : ILocalRobotCommandRelay
{
    private readonly ConcurrentDictionary<string, CommandStream> _streams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long Epoch, ModelSpec Model)> _models = new(StringComparer.Ordinal);

    /// <summary>Registers <paramref name="stream"/> as the robot's stream; the one it replaces is ended.</summary>
    public void Open(CommandStream stream)
    {
        CommandStream? replaced = null;
        _streams.AddOrUpdate(stream.RobotId, stream, (_, old) =>
        {
            replaced = old;
            return stream;
        });
        replaced?.End(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Cancelled, "replaced by a newer Commands stream for this robot")));
    }

    public void Close(CommandStream stream) => _streams.TryRemove(new KeyValuePair<string, CommandStream>(stream.RobotId, stream));

    public CommandStream? Find(string robotId, long epoch) => _streams.TryGetValue(robotId, out var s) && s.Epoch == epoch ? s : null;

    /// <summary>
    /// The relay's way in (see <see cref="RobotCommandRelayGrain"/>): the robot grain reaching this silo's stream of the
    /// robot. An e-stop goes to the robot's stream whatever its epoch: stopping is always safe, and right after a bind
    /// the stream still open is the one of the epoch before (the agent opens its new one once the bind has answered).
    /// Everything else, a resume above all, only to a stream of the command's own epoch.
    /// </summary>
    public bool Deliver(string robotId, RobotCommand command) =>
        (command.Kind == RobotCommandKind.EStop ? (_streams.TryGetValue(robotId, out var any) ? any : null) : Find(robotId, command.Epoch)) is { } stream
        && stream.TryWrite(command);

    public void RememberModel(string robotId, long epoch, ModelSpec model) => _models[robotId] = (epoch, model);

    public ModelSpec? Model(string robotId, long epoch) => _models.TryGetValue(robotId, out var m) && m.Epoch == epoch ? m.Model : null;
}

/// <summary>One open Commands stream: the observer the robot grain pushes to, and the queue the stream writes from.</summary>
public sealed class CommandStream(string robotId, long epoch) : IRobotAgentObserver
{
    // Unbounded: pushes are operator actions (a few per minute), and an e-stop must never be dropped for room.
    private readonly Channel<RobotCommand> _queue = Channel.CreateUnbounded<RobotCommand>(new UnboundedChannelOptions { SingleReader = true });

    public string RobotId { get; } = robotId;

    public long Epoch { get; } = epoch;

    /// <summary>The grain's handle on this object; set once the stream registered it.</summary>
    public IRobotAgentObserver? Reference { get; set; }

    public ChannelReader<RobotCommand> Commands => _queue.Reader;

    public Task OnCommand(RobotCommand command)
    {
        _queue.Writer.TryWrite(command);
        return Task.CompletedTask;
    }

    /// <summary>False when the stream has ended and the command went nowhere.</summary>
    public bool TryWrite(RobotCommand command) => _queue.Writer.TryWrite(command);

    /// <summary>Ends the stream after what is queued; with an error, the client gets that status.</summary>
    public void End(Exception? error = null) => _queue.Writer.TryComplete(error);
}
