using A1Fleet.Grains;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Tests.Cluster;
using A1Fleet.RobotAgent.Tests.Control;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;

namespace A1Fleet.RobotAgent.Tests;

public sealed class RobotAgentRunnerTests : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50); // Franka, 20 Hz
    private readonly FakeTimeProvider _time = new();
    private readonly FakeRobotGrain _grain = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly RobotAgentRunner _runner;
    private Task? _run;

    public RobotAgentRunnerTests()
    {
        var options = Options.Create(new AgentOptions { RobotId = "arm-1", Embodiment = Embodiment.Franka, ModelId = "test-fm", ReportIntervalSeconds = 2 });
        _runner = new RobotAgentRunner(new FakeGrainFactory(_grain), options, _time, NullLogger<RobotAgentRunner>.Instance);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    [Fact]
    public void RunAsync_ClusterUp_BindsExecutesAndReportsCounters()
    {
        Start();
        Step(60); // 3 s

        var snapshot = _runner.Snapshot();
        Assert.Equal(AgentPhase.Executing, snapshot.Phase);
        Assert.Equal(1, snapshot.Binds);
        Assert.Equal(1, snapshot.Epoch);
        Assert.Equal("pick the cube", snapshot.Task);
        Assert.True(snapshot.ChunksExecuted > 5);
        Assert.Equal(8, _grain.Registration!.StateDim);
        Assert.Equal(20, _grain.Registration.ControlHz);
        var report = Assert.Single(_grain.Reports);
        Assert.Equal(40, report.ControlTicks);
        Assert.Contains("arm-1 [Franka 20 Hz] Executing", snapshot.ToStatusLine(), StringComparison.Ordinal);
    }

    [Fact]
    public void RunAsync_SiloDiesAndComesBack_BindsAgainAndMovesWithoutOperator()
    {
        Start();
        Step(20);

        _grain.ActFailure = new SiloUnavailableException("silo 10.0.0.7:11111 is dead");
        _grain.FailBinds = 3;
        Step(40);
        var down = _runner.Snapshot();
        Assert.Equal(AgentPhase.Starved, down.Phase);
        var held = _runner.Driver.ReadState();
        Step(5);
        Assert.Equal(held, _runner.Driver.ReadState());

        _grain.ActFailure = null;
        Step(100); // 5 s: longer than the back-off has grown to
        var up = _runner.Snapshot();

        Assert.Equal(AgentPhase.Executing, up.Phase);
        Assert.Equal(2, up.Binds);
        Assert.True(up.ChunksExecuted > down.ChunksExecuted);
        Assert.Equal(1, up.IdleGaps);
    }

    [Fact]
    public async Task RunAsync_EStopPushedByTheFleet_LatchesOnTheNextTickAndHolds()
    {
        Start();
        Step(20);

        await _grain.Observer!.OnCommand(new RobotCommand(RobotCommandKind.EStop, null, 200, 1, EStopGeneration: 1));
        Step(1);

        Assert.True(_runner.Snapshot().EStopped);
        Assert.Equal(AgentPhase.EStopped, _runner.Snapshot().Phase);
        Assert.Equal(1, _runner.Snapshot().EStopGeneration);

        // A controlled stop takes at most 3 ticks at the reference's speeds; from then on the arm does not move.
        Step(3);
        var state = _runner.Driver.ReadState();
        Step(20);
        Assert.Equal(state, _runner.Driver.ReadState());
    }

    [Fact]
    public async Task RunAsync_Cancelled_Stops()
    {
        Start();
        Step(5);

        await _stop.CancelAsync();
        await _run!;

        Assert.Equal(AgentPhase.Stopped, _runner.Snapshot().Phase);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsListingEveryProblem()
    {
        var options = Options.Create(new AgentOptions { RobotId = "", BlendSteps = 99 });

        var ex = Assert.Throws<OptionsValidationException>(() => new RobotAgentRunner(new FakeGrainFactory(_grain), options, _time, NullLogger<RobotAgentRunner>.Instance));

        Assert.Equal(2, ex.Failures.Count());
    }

    private void Start() => LoopHarness.OutsideTestContext(() => _run = _runner.RunAsync(_stop.Token));

    private void Step(int ticks) => LoopHarness.OutsideTestContext(() =>
    {
        for (var i = 0; i < ticks; i++)
        {
            _time.Advance(Period);
        }
    });
}
