using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>
/// A real control loop (real simulated Franka, camera and adapter) on fake time, with the network hop
/// replaced by <see cref="SimulatedLatencySource"/>. <see cref="Step"/> advances time one period at a time;
/// each period runs exactly one tick, and any answer due in it, before it returns.
/// </summary>
internal sealed class LoopHarness : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public LoopHarness(ControlLoopOptions? options = null, ModelSpec? model = null, Embodiment embodiment = Embodiment.Franka, EpisodeRecorder? recorder = null)
    {
        Model = model ?? TestModels.Spec();
        Arm = new RecordingArm(new SimulatedArm(embodiment, seed: 7));
        Source = new SimulatedLatencySource(Time, Time.GetUtcNow(), Arm.ControlHz);
        Metrics = new AgentMetrics(embodiment);
        LocalStop = new LocalStopSwitch(Metrics);
        InitialState = Arm.ReadState();
        Recording = recorder is null ? null
            : new ArmRecording(recorder, "test-arm", embodiment, Arm.ControlHz, Model, [.. Arm.Arm.Profile.Joints.Select(j => j.Name)]);
        Loop = new ControlLoop(Arm, new SimulatedCamera(Arm.Arm.Profile, Model.Cameras, seed: 7), new ModelAdapter(Arm.JointCount, Model), Model,
            Source, Commands, options ?? new ControlLoopOptions(), Metrics, Time, NullLogger.Instance, Recording, LocalStop);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public ModelSpec Model { get; }

    public RecordingArm Arm { get; }

    public SimulatedLatencySource Source { get; }

    public RobotCommandInbox Commands { get; } = new();

    public AgentMetrics Metrics { get; }

    public LocalStopSwitch LocalStop { get; }

    /// <summary>The arm's joints before the first tick: where the command sequence starts, at rest.</summary>
    public float[] InitialState { get; }

    public ControlLoop Loop { get; }

    public ArmRecording? Recording { get; }

    public Task? Run { get; private set; }

    /// <summary>Starts the loop: tick 0 runs before this returns.</summary>
    public LoopHarness Start()
    {
        OutsideTestContext(() => Run = Loop.RunAsync(_stop.Token));
        return this;
    }

    /// <summary>Advances fake time by <paramref name="ticks"/> control periods.</summary>
    public void Step(int ticks) => OutsideTestContext(() =>
    {
        for (var i = 0; i < ticks; i++)
        {
            Time.Advance(Loop.Period);
        }
    });

    /// <summary>Advances fake time by <paramref name="span"/>, less than a period: to a moment between two ticks.</summary>
    public void Advance(TimeSpan span) => OutsideTestContext(() => Time.Advance(span));

    /// <summary>Posts <paramref name="command"/> as the transport would (an e-stop may run a tick before this returns).</summary>
    public void Post(RobotCommand command) => OutsideTestContext(() => Commands.Post(command));

    /// <summary>
    /// Runs <paramref name="action"/> the way timer callbacks run in production: without a synchronization
    /// context. Under xunit's context the runtime would queue continuations to the thread pool instead of
    /// running them inline, and an answer would land at some tick instead of the next one.
    /// </summary>
    public static void OutsideTestContext(Action action)
    {
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            action();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    public long ExecutedTicks => Metrics.ControlTicks - Metrics.HoldTicks;

    /// <summary>Stops the loop and waits for it to finish (its last episode is then closed).</summary>
    public void Stop()
    {
        _stop.Cancel();
        if (Run is not null && !Run.Wait(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("the control loop did not stop within 10 s of cancellation");
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
