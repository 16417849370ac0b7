using A1Fleet.Calibration.Tests.Images;
using A1Fleet.Calibration.Tests.LeRobot;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.Datasets.Writing;
using A1Fleet.ModelFormat;

namespace A1Fleet.Calibration.Tests.Writing;

public sealed class LeRobotDatasetWriterTests
{
    private static readonly DatasetLayout Layout = new()
    {
        Fps = 10,
        RobotType = "test-arm",
        Cameras = [new CameraLayout("front", 8, 8), new CameraLayout("wrist", 4, 6)],
        StateDim = 3,
        ActionDim = 2,
    };

    /// <summary>A model manifest whose inputs match <see cref="Layout"/>, so the reader can map the dataset onto it.</summary>
    private static readonly ModelManifest Model = new()
    {
        ModelId = "writer-test",
        Cameras = [new CameraSpec { Name = "front", Height = 8, Width = 8 }, new CameraSpec { Name = "wrist", Height = 4, Width = 6 }],
        State = new StateSpec { Dim = 3 },
        Action = new ActionSpec { Chunk = 1, Dim = 4, PaddingDims = [2, 3] },
    };

    [Fact]
    public async Task ReadAfterWrite_TwoEpisodes_GivesBackEveryFrame()
    {
        using var folder = new TempFolder();
        var episodes = new[] { Episode(seed: 1, frames: 3, task: "open the drawer"), Episode(seed: 2, frames: 2, task: "close the drawer") };
        var writer = LeRobotDatasetWriter.Create(folder.Path, Layout);
        foreach (var episode in episodes)
        {
            await writer.WriteEpisodeAsync(episode);
        }

        await writer.CompleteAsync();

        var dataset = LeRobotDataset.Open(folder.Path);
        var read = await new LeRobotDatasetReader(dataset, Model, DatasetMapping.Default(Model, dataset.Info)).ReadAllAsync();
        var recorded = episodes.SelectMany(e => e).ToList();
        Assert.Equal(recorded.Count, read.Samples.Count);
        for (var i = 0; i < recorded.Count; i++)
        {
            var sample = read.Samples[i].Observation;
            Assert.Equal(recorded[i].Task, sample.Instruction);
            Assert.Equal(recorded[i].State, sample.State);
            Assert.Equal(recorded[i].Action, sample.Actions);
            Assert.Equal(recorded[i].Images[0], sample.Images[0]);
            Assert.Equal(recorded[i].Images[1], sample.Images[1]);
        }

        Assert.Equal([0, 0, 0, 1, 1], read.Samples.Select(s => s.Episode));
        Assert.Equal(10, dataset.Info.Fps);
        Assert.Equal(5, dataset.Info.TotalFrames);
        Assert.Equal("open the drawer", dataset.Tasks[0]);
    }

    [Fact]
    public async Task WriteEpisode_Timestamps_AreFrameOverFps()
    {
        using var folder = new TempFolder();
        var writer = LeRobotDatasetWriter.Create(folder.Path, Layout);
        await writer.WriteEpisodeAsync(Episode(seed: 3, frames: 4, task: "t"));
        await writer.CompleteAsync();

        var table = await Datasets.Parquet.EpisodeTableReader.ReadAsync(
            Path.Combine(folder.Path, "data/chunk-000/episode_000000.parquet"),
            [new(FeatureKeys.Timestamp, Datasets.Parquet.ColumnKind.Real), new(FeatureKeys.Index, Datasets.Parquet.ColumnKind.Integer)],
            CancellationToken.None);

        Assert.Equal([0f, 0.1f, 0.2f, 0.3f], table.Reals[FeatureKeys.Timestamp].Select(t => t!.Value));
        Assert.Equal([0L, 1L, 2L, 3L], table.Integers[FeatureKeys.Index].Select(t => t!.Value));
    }

    [Fact]
    public async Task WriteEpisode_WrongStateLength_NamesEpisodeAndFrame()
    {
        using var folder = new TempFolder();
        var writer = LeRobotDatasetWriter.Create(folder.Path, Layout);
        var frames = Episode(seed: 4, frames: 3, task: "t");
        frames[1] = frames[1] with { State = [1f, 2f] };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteEpisodeAsync(frames));

        Assert.Contains("episode 0, frame 1: state has 2 values", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ExistingDataset_RefusesUnlessOverwriting()
    {
        using var folder = new TempFolder();
        var writer = LeRobotDatasetWriter.Create(folder.Path, Layout);
        await writer.WriteEpisodeAsync(Episode(seed: 5, frames: 1, task: "t"));
        await writer.CompleteAsync();

        Assert.Throws<IOException>(() => LeRobotDatasetWriter.Create(folder.Path, Layout));
        var replaced = LeRobotDatasetWriter.Create(folder.Path, Layout, overwrite: true);
        Assert.False(File.Exists(Path.Combine(folder.Path, LeRobotDataset.InfoFile)));
        Assert.Equal(0, replaced.EpisodeCount);
    }

    [Fact]
    public void Create_InvalidLayout_ListsEveryProblem()
    {
        using var folder = new TempFolder();
        var layout = Layout with { Fps = 0, StateDim = 0, Cameras = [new CameraLayout("front", 0, 8), new CameraLayout("front", 8, 8)] };

        var error = Assert.Throws<ArgumentException>(() => LeRobotDatasetWriter.Create(folder.Path, layout));

        Assert.Contains("fps 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("state dim 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("camera 'front' 0x8", error.Message, StringComparison.Ordinal);
        Assert.Contains("appears 2 times", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_ExistingDataset_ContinuesEpisodeAndFrameIndicesAndReusesTasks()
    {
        using var folder = new TempFolder();
        var first = LeRobotDatasetWriter.Create(folder.Path, Layout);
        await first.WriteEpisodeAsync(Episode(seed: 6, frames: 3, task: "open the drawer"));
        await first.CompleteAsync();

        var appended = LeRobotDatasetWriter.Append(folder.Path, Layout);
        Assert.Equal(1, appended.EpisodeCount);
        Assert.Equal(1, await appended.WriteEpisodeAsync(Episode(seed: 7, frames: 2, task: "open the drawer")));
        Assert.Equal(2, await appended.WriteEpisodeAsync(Episode(seed: 8, frames: 4, task: "close the drawer")));

        // No CompleteAsync: an appending writer keeps the metadata current after every episode.
        var dataset = LeRobotDataset.Open(folder.Path);
        Assert.Equal([0, 1, 2], dataset.Episodes.Select(e => e.EpisodeIndex));
        Assert.Equal(9, dataset.Info.TotalFrames);
        Assert.Equal(2, dataset.Tasks.Count);
        var read = await new LeRobotDatasetReader(dataset, Model, DatasetMapping.Default(Model, dataset.Info)).ReadAllAsync();
        Assert.Equal(9, read.Samples.Count);
        Assert.Equal([0, 0, 0, 1, 1, 2, 2, 2, 2], read.Samples.Select(s => s.Episode));
        Assert.Equal(["open the drawer", "open the drawer", "close the drawer"], read.Samples.Where(s => s.Frame == 0).Select(s => s.Observation.Instruction));
        var table = await Datasets.Parquet.EpisodeTableReader.ReadAsync(
            Path.Combine(folder.Path, "data/chunk-000/episode_000002.parquet"),
            [new(FeatureKeys.Index, Datasets.Parquet.ColumnKind.Integer), new(FeatureKeys.TaskIndex, Datasets.Parquet.ColumnKind.Integer)],
            CancellationToken.None);
        Assert.Equal([5L, 6L, 7L, 8L], table.Integers[FeatureKeys.Index].Select(i => i!.Value));
        Assert.All(table.Integers[FeatureKeys.TaskIndex], t => Assert.Equal(1L, t));
    }

    [Fact]
    public async Task Append_EmptyFolder_StartsADatasetReadableAfterItsFirstEpisode()
    {
        using var folder = new TempFolder();
        var writer = LeRobotDatasetWriter.Append(folder.Path, Layout);
        Assert.Empty(LeRobotDataset.Open(folder.Path).Episodes);
        await writer.WriteEpisodeAsync(Episode(seed: 9, frames: 2, task: "t"));
        Assert.Equal(2, LeRobotDataset.Open(folder.Path).TotalFrames);
    }

    [Fact]
    public async Task Append_DatasetOfAnotherLayout_RefusedWithEveryDifferenceAndLeftAsItWas()
    {
        using var folder = new TempFolder();
        var writer = LeRobotDatasetWriter.Create(folder.Path, Layout);
        await writer.WriteEpisodeAsync(Episode(seed: 10, frames: 2, task: "t"));
        await writer.CompleteAsync();
        var infoBefore = await File.ReadAllTextAsync(Path.Combine(folder.Path, LeRobotDataset.InfoFile));

        var other = Layout with { Fps = 30, StateDim = 4, Cameras = [new CameraLayout("front", 16, 16)] };
        var error = Assert.Throws<DatasetFormatException>(() => LeRobotDatasetWriter.Append(folder.Path, other));

        Assert.Contains("10 fps, the recording at 30", error.Message, StringComparison.Ordinal);
        Assert.Contains("'observation.state' holds 3 values, the recording 4", error.Message, StringComparison.Ordinal);
        Assert.Contains("camera 'observation.images.front' is image[8, 8, 3]", error.Message, StringComparison.Ordinal);
        Assert.Contains("camera 'observation.images.wrist', which the recording does not write", error.Message, StringComparison.Ordinal);
        Assert.Equal(infoBefore, await File.ReadAllTextAsync(Path.Combine(folder.Path, LeRobotDataset.InfoFile)));
        Assert.Single(LeRobotDataset.Open(folder.Path).Episodes);
    }

    private static RecordedFrame[] Episode(int seed, int frames, string task)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, frames).Select(_ => new RecordedFrame(
            task,
            [(float)random.NextDouble(), (float)random.NextDouble(), (float)random.NextDouble()],
            [(float)random.NextDouble(), (float)random.NextDouble()],
            [Bytes(random, 8 * 8 * 3), Bytes(random, 4 * 6 * 3)]))];
    }

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
