using A1Fleet.Datasets.LeRobot;
using A1Fleet.Grains;
using A1Fleet.Grains.Fleet;
using A1Fleet.RobotAgent;
using A1Fleet.RobotAgent.Recording;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Tests.Calibration;

/// <summary>
/// A calibration set made on the embedded default, the way a user would: a simulated arm served by the cluster
/// records its episodes, then a calibration job on the cluster calibrates on the recording.
/// </summary>
[Collection(FleetClusterCollection.Name)]
public sealed class RecordThenCalibrateTests(FleetClusterFixture fixture) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "a1fleet-record-calibrate-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task SimulatedArmRecording_CalibratesOnTheCluster()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = 1, MinEpisodeFrames = 5 }),
            NullLogger<EpisodeRecorder>.Instance);
        var agent = new RobotAgentRunner(fixture.Client, Options.Create(new AgentOptions { RobotId = $"recorder-{id}", Embodiment = Embodiment.Franka, ModelId = "tiny-fm", Tags = [$"rec-{id}"] }),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance, recorder: recorder);
        using (var stop = new CancellationTokenSource())
        {
            var running = agent.RunAsync(stop.Token);
            // The fleet refuses an assignment that selects nobody, so wait for the arm to bind first.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await fixture.Client.GetGrain<IFleetGrain>(FleetGrainKeys.Default).Assign(new RobotSelector(RobotSelectorKind.Tag, $"rec-{id}"), "stack the blocks", "test")).Error is { } error)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the arm did not bind: {error}");
                await Task.Delay(100);
            }

            // Four one-second episodes at 20 Hz, then stop: the agent closes the episode it is in.
            while (agent.Metrics.ChunksExecuted < 40)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the arm was not served: {agent.Snapshot()}");
                await Task.Delay(100);
            }

            await stop.CancelAsync();
            await running;
        }

        await recorder.DisposeAsync();
        var summary = recorder.Summary();
        Assert.Equal(0, summary.EpisodesFailed);
        var dataset = LeRobotDataset.Open(Assert.Single(summary.Datasets).Directory);
        Assert.True(dataset.Episodes.Count >= 3, $"expected 3+ episodes, got {dataset.Episodes.Count}");
        Assert.Equal(["stack the blocks"], dataset.Tasks.Values);

        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("recorded-" + id);
        var started = await job.Start(new CalibrationJobSpec("tiny-fm", dataset.Directory, ["exp"], [0.4], null, "exit-warm-k2", 2, 0.25, false, null, BatchSize: 4));
        var calibrationFrames = dataset.Episodes.Take((int)Math.Ceiling(dataset.Episodes.Count * 0.75)).Sum(e => e.Length);
        Assert.Equal(calibrationFrames, started.SamplesTotal);
        var status = await CalibrationJobWait.FinishedAsync(job);
        Assert.Equal(CalibrationJobState.Completed, status.State);
        Assert.Equal(calibrationFrames, status.SamplesDone);
        var published = Assert.Single(status.Published);
        Assert.Equal("exp-r0.4-cosine", published.Name);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
