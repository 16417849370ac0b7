using System.Text.Json.Nodes;
using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Calibration.Tests.LeRobot;

public sealed class LeRobotDatasetTests
{
    [Fact]
    public void Open_ShippedDataset_ReadsMetadataInEpisodeOrder()
    {
        var dataset = LeRobotDataset.Open(TestDatasets.ShippedTinyFm);

        Assert.Equal("v2.0", dataset.Info.CodebaseVersion);
        Assert.Equal(20, dataset.Info.Fps);
        Assert.Equal(Enumerable.Range(0, 8), dataset.Episodes.Select(e => e.EpisodeIndex));
        Assert.Equal(48, dataset.TotalFrames);
        Assert.Equal("image", dataset.Info.Features["observation.images.front"].Dtype);
        Assert.Equal([16, 16, 3], dataset.Info.Features["observation.images.front"].Shape);
    }

    [Fact]
    public void FirstGlobalIndex_EpisodesOfDifferentLengths_SumsPrecedingLengths()
    {
        using var folder = new TempFolder();
        WriteMeta(folder.Path, [(0, 3), (1, 5), (2, 2)], codebase: "v2.1");

        var dataset = LeRobotDataset.Open(folder.Path);

        Assert.Equal([0, 3, 8], dataset.Episodes.Select(e => dataset.FirstGlobalIndex(e.EpisodeIndex)));
        Assert.Equal(10, dataset.TotalFrames);
    }

    [Fact]
    public void Open_MissingEpisodesAndTasks_ListsEveryMissingFile()
    {
        using var folder = new TempFolder();
        Directory.CreateDirectory(Path.Combine(folder.Path, "meta"));
        File.WriteAllText(Path.Combine(folder.Path, LeRobotDataset.InfoFile), """{"codebase_version": "v2.0", "fps": 10, "total_episodes": 0, "features": {"a": {"dtype": "float32", "shape": [1]}}}""");

        var error = Assert.Throws<DatasetFormatException>(() => LeRobotDataset.Open(folder.Path));

        Assert.Equal(2, error.Problems.Count);
        Assert.Contains(error.Problems, p => p.Contains("episodes.jsonl", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("tasks.jsonl", StringComparison.Ordinal));
    }

    [Fact]
    public void Open_Version3AndBadFps_ListsBothProblems()
    {
        using var folder = new TempFolder();
        WriteMeta(folder.Path, [(0, 3)], codebase: "v3.0", fps: 0);

        var error = Assert.Throws<DatasetFormatException>(() => LeRobotDataset.Open(folder.Path));

        Assert.Contains(error.Problems, p => p.Contains("codebase_version 'v3.0'", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("fps 0", StringComparison.Ordinal));
    }

    [Fact]
    public void Open_MalformedEpisodeLine_NamesFileAndLine()
    {
        using var folder = new TempFolder();
        WriteMeta(folder.Path, [(0, 3)]);
        File.AppendAllText(Path.Combine(folder.Path, LeRobotDataset.EpisodesFile), "{\"episode_index\": oops}\n");

        var error = Assert.Throws<DatasetFormatException>(() => LeRobotDataset.Open(folder.Path));

        Assert.Contains(error.Problems, p => p.Contains("episodes.jsonl' line 2", StringComparison.Ordinal));
    }

    private static void WriteMeta(string root, (int Index, int Length)[] episodes, string codebase = "v2.0", double fps = 20)
    {
        Directory.CreateDirectory(Path.Combine(root, "meta"));
        var info = new JsonObject
        {
            ["codebase_version"] = codebase,
            ["fps"] = fps,
            ["total_episodes"] = episodes.Length,
            ["data_path"] = LeRobotInfo.DefaultDataPath,
            ["features"] = new JsonObject { ["observation.state"] = new JsonObject { ["dtype"] = "float32", ["shape"] = new JsonArray(6) } },
        };
        File.WriteAllText(Path.Combine(root, LeRobotDataset.InfoFile), info.ToJsonString());
        File.WriteAllLines(Path.Combine(root, LeRobotDataset.EpisodesFile),
            episodes.Select(e => $"{{\"episode_index\": {e.Index}, \"tasks\": [\"t\"], \"length\": {e.Length}}}"));
        File.WriteAllText(Path.Combine(root, LeRobotDataset.TasksFile), "{\"task_index\": 0, \"task\": \"t\"}\n");
    }
}

/// <summary>A temp folder deleted at the end of a test that needs no model.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "a1fleet-calibration-" + Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
