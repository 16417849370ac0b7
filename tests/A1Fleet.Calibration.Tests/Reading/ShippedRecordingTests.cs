using A1Fleet.Calibration.Tests.Cli;
using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Calibration.Tests.Reading;

/// <summary>
/// The recording shipped for tests and the demo (calibration-jobs/datasets/tiny-fm-franka, made with
/// <c>demo -- --agents 1 --model tiny-fm --record DIR --record-episode-seconds 2</c>) is a calibration set as it stands.
/// </summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class ShippedRecordingTests(ReferenceModelsFixture models)
{
    [Fact]
    public async Task ReadAll_ShippedRecording_EveryFrameIsATinyFmObservation()
    {
        var dataset = LeRobotDataset.Open(TestDatasets.ShippedRecording);
        Assert.Equal("franka", dataset.Info.RobotType);
        Assert.Equal(20, dataset.Info.Fps);
        Assert.Equal(8, dataset.Episodes.Count);
        Assert.Equal(["put the cup on the coaster"], dataset.Tasks.Values);
        var stateNames = dataset.Info.Features[FeatureKeys.State].Names!.AsArray().Select(n => (string)n!);
        Assert.Equal(["panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4", "panda_joint5", "panda_joint6"], stateNames);
        Assert.False(File.Exists(Path.Combine(dataset.Directory, ".recording.lock")));

        var result = await TestDatasets.Reader(models, TestDatasets.ShippedRecording).ReadAllAsync();

        Assert.Equal(dataset.TotalFrames, result.Summary.SamplesUsed);
        Assert.Equal(0, result.Summary.SamplesSkipped);
        Assert.All(result.Samples, s =>
        {
            Assert.Equal(16 * 16 * 3, s.Observation.Images[0].Length);
            Assert.Equal(models.Manifest.Action.Chunk * 6, s.Observation.Actions!.Length);
            Assert.All(s.Observation.State, v => Assert.True(float.IsFinite(v)));
        });

        // The arm moves: a recording of a parked arm would calibrate on nothing.
        var first = result.Samples[0].Observation.State;
        Assert.Contains(result.Samples, s => s.Observation.State.Zip(first).Any(p => Math.Abs(p.First - p.Second) > 0.05f));
    }

    [Fact]
    public async Task Calibrate_ShippedRecording_PrintsTheTableForEveryR()
    {
        var outDirectory = models.NewDirectory("recording-out");

        var (code, output, error) = await CalibrateCommandTests.RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", TestDatasets.ShippedRecording,
            "--r", "1.0,0.1", "--out", outDirectory, "--threads", "1");

        Assert.True(code == 0, error);
        Assert.Contains("302 samples used from 8 of 8 episodes, 0 skipped", output, StringComparison.Ordinal);
        Assert.Contains("held-out evaluation: the engine run with each set on 62 samples of episodes 6, 7", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outDirectory, "exp-r1.0-cosine.json")));
        Assert.True(File.Exists(Path.Combine(outDirectory, "exp-r0.1-cosine.json")));
    }
}
