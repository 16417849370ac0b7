using System.Collections.Concurrent;
using A1Fleet.Grains;

namespace A1Fleet.Grains.Tests;

/// <summary>A minimal agent for grain tests: binds, sends observations built from the model spec, records pushed commands.</summary>
internal sealed class TestAgent : IRobotAgentObserver
{
    private readonly IClusterClient _client;
    private long _sequence;

    public TestAgent(IClusterClient client, string robotId, Embodiment embodiment = Embodiment.Franka, string model = "tiny-fm", params string[] tags)
    {
        _client = client;
        RobotId = robotId;
        Embodiment = embodiment;
        Model = model;
        Tags = tags;
        Robot = client.GetGrain<IRobotGrain>(robotId);
        Reference = client.CreateObjectReference<IRobotAgentObserver>(this);
    }

    public string RobotId { get; }
    public Embodiment Embodiment { get; }
    public string Model { get; }
    public string[] Tags { get; }
    public IRobotGrain Robot { get; }
    public IRobotAgentObserver Reference { get; }
    public RobotLease? Lease { get; private set; }
    public ConcurrentQueue<RobotCommand> Commands { get; } = new();

    private readonly ConcurrentQueue<(RobotCommandKind Kind, TaskCompletionSource<RobotCommand> Heard)> _waiting = new();

    /// <summary>Completes when a command of <paramref name="kind"/> is pushed after this call.</summary>
    public Task<RobotCommand> NextPushed(RobotCommandKind kind)
    {
        var heard = new TaskCompletionSource<RobotCommand>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting.Enqueue((kind, heard));
        return heard.Task;
    }

    public async Task<RobotLease> BindAsync(string? agentId = null)
    {
        Lease = await Robot.Bind(new AgentRegistration(agentId ?? $"agent-{RobotId}", Embodiment, Model, 0, 0, ["front"], 20, Tags), Reference);
        return Lease;
    }

    public Task<ActionChunk> ActAsync(long? epoch = null) => Robot.Act(epoch ?? Lease!.Epoch, Observation());

    public Observation Observation()
    {
        var spec = Lease!.Model;
        var state = spec.StateQ01.Zip(spec.StateQ99, (lo, hi) => (lo + hi) / 2).ToArray();
        var images = spec.Cameras.Select(c =>
        {
            var pixels = new byte[c.Height * c.Width * 3];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (byte)((i * 37) + (int)_sequence);
            }

            return pixels;
        }).ToArray();
        return new Observation(Interlocked.Increment(ref _sequence), state, images, DateTimeOffset.UtcNow);
    }

    public Task OnCommand(RobotCommand command)
    {
        Commands.Enqueue(command);
        foreach (var (kind, heard) in _waiting)
        {
            if (kind == command.Kind)
            {
                heard.TrySetResult(command);
            }
        }

        return Task.CompletedTask;
    }
}
