using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.Grains;
using A1Fleet.ModelFormat;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tests.Control;
using A1Fleet.RobotAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Tests.Recording;

/// <summary>
/// The control loop recording its arm: real loop, arm, camera and LeRobot writer on fake time, read back with
/// the calibration jobs' own dataset reader.
/// </summary>
public sealed class EpisodeRecordingTests : IDisposable
{
    private static readonly RobotTask CupTask = new("put the cup on the coaster", DateTimeOffset.UnixEpoch, "test", 1);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "a1fleet-recording-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Recording_EpisodesReadBack_AsTheObservationsTheArmStartedFromAndTheCommandsItExecuted()
    {
        var recorder = Recorder(maxEpisodeSeconds: 2, minEpisodeFrames: 5);
        using var h = new LoopHarness(recorder: recorder);
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, CupTask);
        h.Start().Step(130);
        h.Stop();
        await recorder.DisposeAsync();

        var summary = recorder.Summary();
        Assert.Equal(0, summary.EpisodesFailed);
        var dataset = LeRobotDataset.Open(recorder.DatasetDirectory("test-fm", Embodiment.Franka));
        Assert.Equal(summary.EpisodesWritten, dataset.Episodes.Count);
        Assert.True(dataset.Episodes.Count >= 3, $"130 ticks in 40-frame episodes should give at least 3, got {dataset.Episodes.Count}");
        Assert.All(dataset.Episodes.SkipLast(1), e => Assert.Equal(40, e.Length));
        Assert.Equal(20, dataset.Info.Fps);
        Assert.Equal("franka", dataset.Info.RobotType);
        Assert.Equal(["put the cup on the coaster"], dataset.Tasks.Values);

        var read = await new LeRobotDatasetReader(dataset, Manifest(h.Model), DatasetMapping.Default(Manifest(h.Model), dataset.Info)).ReadAllAsync();
        Assert.Equal(0, read.Summary.SamplesSkipped);
        var camera = new SimulatedCamera(h.Arm.Arm.Profile, h.Model.Cameras, seed: 7);
        var executed = h.Arm.Commands.Where(c => c is not null).ToList();

        // With 120 ms answers and half a chunk asked ahead the arm never holds once moving: episode 0 holds the
        // first 40 executed commands, in order; later episodes resume at the next chunk.
        var first = read.Samples.Where(s => s.Episode == 0).ToList();
        for (var f = 0; f < first.Count; f++)
        {
            Assert.Equal(executed[f], first[f].Observation.Actions![..8]);
        }

        foreach (var sample in read.Samples)
        {
            Assert.Equal(CupTask.Instruction, sample.Observation.Instruction);

            // The images are what the camera shows for the recorded state (a Franka's 8 joints are the state).
            var images = camera.Capture(sample.Observation.State);
            Assert.Equal(images[0], sample.Observation.Images[0]);
            Assert.Equal(images[1], sample.Observation.Images[1]);
        }
    }

    [Fact]
    public async Task Recording_EStopEndsTheEpisode_AndShortOnesAreDropped()
    {
        var recorder = Recorder(maxEpisodeSeconds: 60, minEpisodeFrames: 20);
        using var h = new LoopHarness(recorder: recorder);
        var cleared = false;
        h.Source.Respond = (_, tick, _) => cleared ? ChunkResult.Hold(false, null) : ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, CupTask);
        h.Start().Step(50);
        h.Commands.Post(new RobotCommand(RobotCommandKind.EStop, null, 200, 0));
        h.Step(20);
        Assert.False(h.Recording!.IsOpen);
        h.Commands.Post(new RobotCommand(RobotCommandKind.Resume, null, 200, 0));

        // Moving again for fewer than 20 frames, then the task is cleared: that episode is too short to keep.
        h.Step(12);
        Assert.True(h.Recording.IsOpen);
        cleared = true;
        h.Commands.Post(new RobotCommand(RobotCommandKind.TaskChanged, null, 200, 0));
        h.Step(5);
        h.Stop();
        await recorder.DisposeAsync();

        var summary = recorder.Summary();
        Assert.Equal(1, summary.EpisodesWritten);
        Assert.Equal(1, summary.EpisodesDropped);
        var dataset = LeRobotDataset.Open(recorder.DatasetDirectory("test-fm", Embodiment.Franka));
        var episode = Assert.Single(dataset.Episodes);
        Assert.InRange(episode.Length, 40, 50);
    }

    [Fact]
    public async Task Recording_NewTask_StartsANewEpisodeLabelledWithIt()
    {
        var recorder = Recorder(maxEpisodeSeconds: 60, minEpisodeFrames: 5);
        using var h = new LoopHarness(recorder: recorder);
        var task = CupTask;
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, task);
        h.Start().Step(40);
        task = new RobotTask("open the drawer", DateTimeOffset.UnixEpoch, "test", 2);
        h.Commands.Post(new RobotCommand(RobotCommandKind.TaskChanged, task, 200, 0));
        h.Step(40);
        h.Stop();
        await recorder.DisposeAsync();

        var dataset = LeRobotDataset.Open(recorder.DatasetDirectory("test-fm", Embodiment.Franka));
        Assert.Equal(2, dataset.Episodes.Count);
        Assert.Equal(["put the cup on the coaster"], dataset.Episodes[0].Tasks);
        Assert.Equal(["open the drawer"], dataset.Episodes[1].Tasks);
    }

    [Fact]
    public async Task Recording_ArmWithFewerJointsThanTheModel_RecordsTheMissingDimsAsHeldAndNamesThemUnused()
    {
        var recorder = Recorder(maxEpisodeSeconds: 1, minEpisodeFrames: 5);
        using var h = new LoopHarness(recorder: recorder, embodiment: Embodiment.Dobot);
        h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, CupTask);
        h.Start().Step(40);
        h.Stop();
        await recorder.DisposeAsync();

        var dataset = LeRobotDataset.Open(recorder.DatasetDirectory("test-fm", Embodiment.Dobot));
        Assert.Equal("dobot", dataset.Info.RobotType);
        Assert.Equal(25, dataset.Info.Fps);
        var stateNames = dataset.Info.Features["observation.state"].Names!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(["cr_j1", "cr_j2", "cr_j3", "cr_j4", "cr_j5", "cr_j6", "gripper_width", "unused_7"], stateNames);
        var read = await new LeRobotDatasetReader(dataset, Manifest(h.Model), DatasetMapping.Default(Manifest(h.Model), dataset.Info)).ReadAllAsync();
        Assert.NotEmpty(read.Samples);
        Assert.All(read.Samples, s => Assert.Equal(s.Observation.State[7], s.Observation.Actions![7]));
    }

    [Fact]
    public async Task Recorder_Restarted_AppendsToTheDatasetItRecordedBefore()
    {
        for (var run = 0; run < 2; run++)
        {
            var recorder = Recorder(maxEpisodeSeconds: 1, minEpisodeFrames: 5);
            using var h = new LoopHarness(recorder: recorder);
            h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, CupTask);
            h.Start().Step(50);
            h.Stop();
            await recorder.DisposeAsync();
            Assert.Equal(0, recorder.Summary().EpisodesFailed);
        }

        var dataset = LeRobotDataset.Open(Path.Combine(_root, "test-fm-franka"));
        Assert.Equal(Enumerable.Range(0, dataset.Episodes.Count), dataset.Episodes.Select(e => e.EpisodeIndex));
        Assert.True(dataset.Episodes.Count >= 4, $"two runs of 2+ episodes each, got {dataset.Episodes.Count}");
        Assert.Single(dataset.Tasks);
        Assert.False(File.Exists(Path.Combine(dataset.Directory, EpisodeRecorder.LockFile)), "the lock is released on dispose");
    }

    [Fact]
    public async Task Recorder_DatasetLockedByAnotherRecorder_RefusesItsEpisodesAndSaysWhy()
    {
        var holder = Recorder(maxEpisodeSeconds: 1, minEpisodeFrames: 5);
        var intruder = Recorder(maxEpisodeSeconds: 1, minEpisodeFrames: 5);
        using (var h = new LoopHarness(recorder: holder))
        {
            h.Source.Respond = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8, CupTask);
            h.Start().Step(30);
            await WaitForAsync(() => holder.Summary().EpisodesWritten >= 1);

            using var other = new LoopHarness(recorder: intruder);
            other.Source.Respond = h.Source.Respond;
            other.Start().Step(30);
            other.Stop();
            await intruder.DisposeAsync();
            h.Stop();
        }

        await holder.DisposeAsync();
        Assert.Equal(0, intruder.Summary().EpisodesWritten);
        Assert.True(intruder.Summary().EpisodesFailed >= 1);
        Assert.Contains("another process is recording", intruder.Summary().LastError);
        Assert.Equal(0, holder.Summary().EpisodesFailed);
    }

    [Fact]
    public void Options_Invalid_EveryProblemNamed()
    {
        var file = Path.Combine(Path.GetTempPath(), "a1fleet-recording-file-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, "x");
        try
        {
            var result = new EpisodeRecordingOptionsValidator().Validate(null, new EpisodeRecordingOptions { Directory = file, MaxEpisodeSeconds = 0, MinEpisodeFrames = 0 });
            Assert.True(result.Failed);
            Assert.Equal(3, result.Failures!.Count());
            Assert.Contains(result.Failures!, f => f.Contains("is a file", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private EpisodeRecorder Recorder(double maxEpisodeSeconds, int minEpisodeFrames) => new(
        Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = maxEpisodeSeconds, MinEpisodeFrames = minEpisodeFrames }),
        NullLogger<EpisodeRecorder>.Instance);

    private static ModelManifest Manifest(ModelSpec spec) => new()
    {
        ModelId = spec.ModelId,
        Cameras = [.. spec.Cameras.Select(c => new CameraSpec { Name = c.Name, Height = c.Height, Width = c.Width })],
        State = new StateSpec { Dim = spec.StateDim },
        Action = new ActionSpec { Chunk = spec.Chunk, Dim = spec.ActionDim },
    };

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
