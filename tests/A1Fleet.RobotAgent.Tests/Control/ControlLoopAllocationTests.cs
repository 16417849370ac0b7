using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>Counts bytes, not time: a tick that only executes or holds must allocate nothing (64 arms at 20 Hz on two cores).</summary>
public sealed class ControlLoopAllocationTests
{
    [Fact]
    public void Tick_ExecutingBetweenRequests_AllocatesNothing()
    {
        // One step ahead: of a 10-step chunk, steps 2..7 neither splice nor request (the request goes out after step 8).
        var (loop, metrics, _) = Create(new ControlLoopOptions { RequestAheadShare = 0.1 });
        for (var i = 0; i < 40; i++)
        {
            loop.Tick(); // warm-up: JIT, statics, buffers
        }

        var chunks = metrics.ChunksExecuted;
        while (metrics.ChunksExecuted == chunks)
        {
            loop.Tick();
        }

        loop.Tick();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 6; i++)
        {
            loop.Tick();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(AgentPhase.Executing, loop.Phase);
    }

    [Fact]
    public void Tick_Holding_AllocatesNothing()
    {
        var (loop, _, commands) = Create(new ControlLoopOptions());
        commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0));
        for (var i = 0; i < 10; i++)
        {
            loop.Tick();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            loop.Tick();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(AgentPhase.EStopped, loop.Phase);
    }

    private static (ControlLoop Loop, AgentMetrics Metrics, RobotCommandInbox Commands) Create(ControlLoopOptions options)
    {
        // Time stands still here: ticks are called directly, and the source answers at once.
        var time = new FakeTimeProvider();
        var model = TestModels.Spec();
        var arm = new SimulatedArm(Embodiment.Franka, 7);
        var source = new SimulatedLatencySource(time, time.GetUtcNow(), arm.ControlHz) { Latency = TimeSpan.Zero };
        var metrics = new AgentMetrics(Embodiment.Franka);
        var commands = new RobotCommandInbox();
        var loop = new ControlLoop(arm, new SimulatedCamera(arm.Profile, model.Cameras, 7), new ModelAdapter(arm.JointCount, model), model, source, commands,
            options, metrics, time, NullLogger.Instance);
        return (loop, metrics, commands);
    }
}
