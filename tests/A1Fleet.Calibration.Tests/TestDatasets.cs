using A1Fleet.Datasets.Conversion;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Parquet;
using A1Fleet.Datasets.Reading;

namespace A1Fleet.Calibration.Tests;

/// <summary>Datasets for tests: tiny-fm's samples converted into a temp folder, then broken on purpose where a test needs it.</summary>
internal static class TestDatasets
{
    /// <summary>The dataset committed under calibration-jobs/datasets/tiny-fm-sim, as copied next to the test assembly.</summary>
    public static string ShippedTinyFm => Path.Combine(AppContext.BaseDirectory, "datasets", "tiny-fm-sim");

    /// <summary>calibration-jobs/datasets/tiny-fm-franka: a simulated Franka on tiny-fm, recorded by the fleet demo (--record).</summary>
    public static string ShippedRecording => Path.Combine(AppContext.BaseDirectory, "datasets", "tiny-fm-franka");

    public static async Task<string> ConvertedTinyFmAsync(ReferenceModelsFixture models, string name)
    {
        var directory = models.NewDirectory(name);
        await SamplesToLeRobot.ConvertAsync(models.Samples, models.Manifest, directory, cancellationToken: CancellationToken.None);
        return directory;
    }

    public static LeRobotDatasetReader Reader(ReferenceModelsFixture models, string directory, BadDataPolicy policy = BadDataPolicy.Fail)
    {
        var dataset = LeRobotDataset.Open(directory);
        return new LeRobotDatasetReader(dataset, models.Manifest, DatasetMapping.Default(models.Manifest, dataset.Info), new DatasetReadOptions { BadData = policy });
    }

    /// <summary>Every column a converted tiny-fm episode has.</summary>
    public static IReadOnlyList<ColumnRequest> AllColumns { get; } =
    [
        new(FeatureKeys.State, ColumnKind.Vector),
        new(FeatureKeys.Action, ColumnKind.Vector),
        new(FeatureKeys.ImagePrefix + "front", ColumnKind.Image),
        new(FeatureKeys.Timestamp, ColumnKind.Real),
        new(FeatureKeys.FrameIndex, ColumnKind.Integer),
        new(FeatureKeys.EpisodeIndex, ColumnKind.Integer),
        new(FeatureKeys.Index, ColumnKind.Integer),
        new(FeatureKeys.TaskIndex, ColumnKind.Integer),
    ];

    public static string EpisodePath(string directory, int episode)
    {
        var dataset = LeRobotDataset.Open(directory);
        return dataset.FullPath(dataset.EpisodeDataPath(episode));
    }

    /// <summary>Reads an episode's file, lets the test change it, and writes it back.</summary>
    public static async Task RewriteEpisodeAsync(string directory, int episode, Action<EpisodeTable> change)
    {
        var path = EpisodePath(directory, episode);
        var table = await EpisodeTableReader.ReadAsync(path, AllColumns, CancellationToken.None);
        change(table);
        await EpisodeTableWriter.WriteAsync(path, table, CancellationToken.None);
    }

    /// <summary>Rewrites meta/episodes.jsonl through a line transform.</summary>
    public static void RewriteEpisodesJsonl(string directory, Func<LeRobotEpisode, LeRobotEpisode> change)
    {
        var path = Path.Combine(directory, LeRobotDataset.EpisodesFile);
        var problems = new List<string>();
        var episodes = LeRobotJson.ReadLines<LeRobotEpisode>(path, problems).Select(change).ToList();
        LeRobotJson.WriteLines(path, episodes);
    }
}
