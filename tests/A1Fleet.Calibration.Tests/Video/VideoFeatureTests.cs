using System.Diagnostics;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;

namespace A1Fleet.Calibration.Tests.Video;

[Collection(ReferenceModelsCollection.Name)]
public sealed class VideoFeatureTests(ReferenceModelsFixture models)
{
    private const string Camera = "observation.images.front";

    [Fact]
    public async Task Reader_VideoFeatureWithoutFfmpeg_ErrorNamesFeatureAndSuggestsImageStorage()
    {
        var directory = await VideoDatasetAsync("no-ffmpeg", writeVideos: false);
        var dataset = LeRobotDataset.Open(directory);

        var error = Assert.Throws<DatasetFormatException>(() => new LeRobotDatasetReader(dataset, models.Manifest,
            DatasetMapping.Default(models.Manifest, dataset.Info), new DatasetReadOptions { FfmpegExecutable = "/nonexistent/ffmpeg" }));

        Assert.Contains($"feature '{Camera}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("dtype \"video\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("image storage", error.Message, StringComparison.Ordinal);
    }

    [FactRequiresFfmpeg]
    public async Task ReadAll_LosslessEpisodeVideos_FramesEqualTheRecordedImages()
    {
        var directory = await VideoDatasetAsync("video", writeVideos: true);
        var dataset = LeRobotDataset.Open(directory);

        var result = await new LeRobotDatasetReader(dataset, models.Manifest, DatasetMapping.Default(models.Manifest, dataset.Info)).ReadEpisodesAsync([0, 7]);

        Assert.Equal(12, result.Summary.SamplesUsed);
        foreach (var sample in result.Samples)
        {
            Assert.Equal(models.Samples[sample.GlobalIndex].Images[0], sample.Observation.Images[0]);
        }

        Assert.Contains(result.Summary.Notes, n => n.Contains("video frames decoded by ffmpeg", StringComparison.Ordinal));
    }

    [FactRequiresFfmpeg]
    public async Task ReadAll_MissingVideoUnderSkip_SkipsTheEpisodeNamingTheVideo()
    {
        var directory = await VideoDatasetAsync("video-missing", writeVideos: true);
        var dataset = LeRobotDataset.Open(directory);
        File.Delete(dataset.FullPath(dataset.EpisodeVideoPath(Camera, 2)));

        var result = await new LeRobotDatasetReader(dataset, models.Manifest, DatasetMapping.Default(models.Manifest, dataset.Info),
            new DatasetReadOptions { BadData = BadDataPolicy.Skip }).ReadEpisodesAsync([1, 2]);

        var problem = Assert.Single(result.Summary.Problems);
        Assert.Equal((DataProblemKind.MissingFile, 2), (problem.Kind, problem.Episode));
        Assert.Equal("videos/chunk-000/observation.images.front/episode_000002.mp4", problem.File);
    }

    /// <summary>The converted tiny-fm dataset with its camera re-declared as video, and (optionally) lossless RGB mp4s per episode.</summary>
    private async Task<string> VideoDatasetAsync(string name, bool writeVideos)
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, name);
        var infoPath = Path.Combine(directory, LeRobotDataset.InfoFile);
        var info = JsonNode.Parse(await File.ReadAllTextAsync(infoPath))!;
        info["features"]![Camera]!["dtype"] = "video";
        info["video_path"] = LeRobotInfo.DefaultVideoPath;
        await File.WriteAllTextAsync(infoPath, info.ToJsonString());
        if (writeVideos)
        {
            var dataset = LeRobotDataset.Open(directory);
            foreach (var episode in dataset.Episodes)
            {
                var frames = models.Samples.Where(s => s.Episode == episode.EpisodeIndex).Select(s => s.Images[0]);
                await EncodeLosslessAsync(dataset.FullPath(dataset.EpisodeVideoPath(Camera, episode.EpisodeIndex)), frames, 16, 16);
            }
        }

        return directory;
    }

    private static async Task EncodeLosslessAsync(string path, IEnumerable<byte[]> frames, int height, int width)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{width}x{height}", "-r", "20", "-i", "pipe:0", "-c:v", "libx264rgb", "-qp", "0", path })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        foreach (var frame in frames)
        {
            await process.StandardInput.BaseStream.WriteAsync(frame);
        }

        process.StandardInput.Close();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"ffmpeg could not encode the test video: {await errors}");
    }
}
