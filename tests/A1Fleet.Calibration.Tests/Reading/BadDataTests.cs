using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;
using A1Fleet.Datasets.Reading;

namespace A1Fleet.Calibration.Tests.Reading;

[Collection(ReferenceModelsCollection.Name)]
public sealed class BadDataTests(ReferenceModelsFixture models)
{
    private const string Image = "observation.images.front";

    [Fact]
    public async Task ReadAll_CorruptImageUnderFail_ThrowsNamingEpisodeFrameAndFile()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "corrupt-fail");
        await TestDatasets.RewriteEpisodeAsync(directory, 3, t => t.Images[Image][4] = new EncodedImage([0x89, 0x50, 0x4E, 0x47, 0, 1], null));

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadAllAsync());

        Assert.Equal(DataProblemKind.CorruptImage, error.Problem!.Kind);
        Assert.Contains("episode 3, frame 4 (data/chunk-000/episode_000003.parquet)", error.Message, StringComparison.Ordinal);
        Assert.Contains(Image, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_CorruptImageUnderSkip_SkipsThatFrameOnly()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "corrupt-skip");
        await TestDatasets.RewriteEpisodeAsync(directory, 3, t => t.Images[Image][4] = new EncodedImage([1, 2, 3], null));

        var result = await TestDatasets.Reader(models, directory, BadDataPolicy.Skip).ReadAllAsync();

        Assert.Equal(47, result.Summary.SamplesUsed);
        Assert.Equal(1, result.Summary.SamplesSkipped);
        var problem = Assert.Single(result.Summary.Problems);
        Assert.Equal((3, 4), (problem.Episode, problem.Frame!.Value));
        Assert.DoesNotContain(result.Samples, s => s.GlobalIndex == (3 * 6) + 4);
        Assert.Contains(result.Samples, s => s.GlobalIndex == (3 * 6) + 5);
        Assert.Equal(1, result.Summary.SkippedByKind[DataProblemKind.CorruptImage]);
    }

    [Fact]
    public async Task ReadAll_WrongStateLength_NamesEpisodeFrameAndLengths()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "state-length");
        await TestDatasets.RewriteEpisodeAsync(directory, 1, t => t.Vectors[FeatureKeys.State][2] = [1f, 2f, 3f, 4f, 5f]);

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadAllAsync());

        Assert.Equal(DataProblemKind.BadState, error.Problem!.Kind);
        Assert.Contains("episode 1, frame 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("observation.state has 5 values; info.json declares 6", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_MissingEpisodeFileUnderSkip_SkipsWholeEpisode()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "missing-file");
        File.Delete(TestDatasets.EpisodePath(directory, 6));

        var result = await TestDatasets.Reader(models, directory, BadDataPolicy.Skip).ReadAllAsync();

        var problem = Assert.Single(result.Summary.Problems);
        Assert.Equal(DataProblemKind.MissingFile, problem.Kind);
        Assert.Null(problem.Frame);
        Assert.Equal(6, problem.SamplesAffected);
        Assert.Equal("data/chunk-000/episode_000006.parquet", problem.File);
        Assert.Equal(42, result.Summary.SamplesUsed);
        Assert.Equal(7, result.Summary.EpisodesUsed);
        Assert.Equal(Enumerable.Range(42, 6), result.Samples.Where(s => s.Episode == 7).Select(s => s.GlobalIndex));
    }

    [Fact]
    public async Task ReadAll_MissingEpisodeFileUnderFail_ThrowsNamingEpisode()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "missing-file-fail");
        File.Delete(TestDatasets.EpisodePath(directory, 6));

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadAllAsync());

        Assert.Contains("episode 6 (data/chunk-000/episode_000006.parquet): the episode's data file is missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_EpisodeOfLengthZero_IsReportedAsEmpty()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "empty-episode");
        TestDatasets.RewriteEpisodesJsonl(directory, e => e.EpisodeIndex == 2 ? new LeRobotEpisode { EpisodeIndex = 2, Tasks = e.Tasks, Length = 0 } : e);

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadAllAsync());
        var skipped = await TestDatasets.Reader(models, directory, BadDataPolicy.Skip).ReadAllAsync();

        Assert.Equal(DataProblemKind.EmptyEpisode, error.Problem!.Kind);
        Assert.Contains("episode 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(42, skipped.Summary.SamplesUsed);
        Assert.Equal(DataProblemKind.EmptyEpisode, Assert.Single(skipped.Summary.Problems).Kind);
    }

    [Fact]
    public async Task ReadAll_ParquetWithoutRows_IsReportedAsEmptyNamingTheEpisode()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "zero-rows");
        var empty = new EpisodeTable(0);
        empty.Vectors[FeatureKeys.State] = [];
        empty.Vectors[FeatureKeys.Action] = [];
        empty.Images["observation.images.front"] = [];
        empty.Integers[FeatureKeys.TaskIndex] = [];
        await EpisodeTableWriter.WriteAsync(TestDatasets.EpisodePath(directory, 5), empty, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadEpisodesAsync([5]));

        Assert.Equal(DataProblemKind.EmptyEpisode, error.Problem!.Kind);
        Assert.Contains("episode 5 (data/chunk-000/episode_000005.parquet): the episode is empty (its parquet file has no rows)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_FileShorterThanEpisodesJsonl_ReportsLengthMismatch()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "length-mismatch");
        var path = TestDatasets.EpisodePath(directory, 4);
        var full = await EpisodeTableReader.ReadAsync(path, TestDatasets.AllColumns, CancellationToken.None);
        var shorter = new EpisodeTable(4);
        foreach (var (key, cells) in full.Vectors) { shorter.Vectors[key] = cells[..4]; }
        foreach (var (key, cells) in full.Images) { shorter.Images[key] = cells[..4]; }
        foreach (var (key, cells) in full.Reals) { shorter.Reals[key] = cells[..4]; }
        foreach (var (key, cells) in full.Integers) { shorter.Integers[key] = cells[..4]; }
        await EpisodeTableWriter.WriteAsync(path, shorter, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BadDataException>(() => TestDatasets.Reader(models, directory).ReadAllAsync());

        Assert.Equal(DataProblemKind.LengthMismatch, error.Problem!.Kind);
        Assert.Contains("episode 4", error.Message, StringComparison.Ordinal);
        Assert.Contains("holds 4 frames but meta/episodes.jsonl gives length 6", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_UnknownTaskAndNullImage_BothSkippedWithTheirKinds()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "task-and-image");
        await TestDatasets.RewriteEpisodeAsync(directory, 0, t =>
        {
            t.Integers[FeatureKeys.TaskIndex][1] = 99;
            t.Images[Image][3] = null;
        });

        var result = await TestDatasets.Reader(models, directory, BadDataPolicy.Skip).ReadAllAsync();

        Assert.True(46 == result.Summary.SamplesUsed, result.Summary.Describe());
        Assert.Contains(result.Summary.Problems, p => p is { Kind: DataProblemKind.UnknownTask, Frame: 1 } && p.Reason.Contains("task_index 99", StringComparison.Ordinal));
        Assert.Contains(result.Summary.Problems, p => p is { Kind: DataProblemKind.MissingImage, Frame: 3 });
        Assert.Contains("skipped 1 (UnknownTask)", result.Summary.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAll_BadActionLaterInChunk_NamesTheFrameHoldingIt()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "bad-action");
        await TestDatasets.RewriteEpisodeAsync(directory, 5, t => t.Vectors[FeatureKeys.Action][2] = [float.NaN, 0, 0, 0, 0, 0]);

        var result = await TestDatasets.Reader(models, directory, BadDataPolicy.Skip).ReadEpisodesAsync([5]);

        // Frames 0..2 all need frame 2's action in their 4-step chunks.
        Assert.Equal([0, 1, 2], result.Summary.Problems.Select(p => p.Frame!.Value));
        Assert.Contains(result.Summary.Problems, p => p.Frame == 0 && p.Reason.Contains("needs frame 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReadAll_LargerImages_ResizedToCameraAndNoted()
    {
        var directory = await TestDatasets.ConvertedTinyFmAsync(models, "resized");
        await TestDatasets.RewriteEpisodeAsync(directory, 0, t =>
        {
            for (var row = 0; row < t.Rows; row++)
            {
                t.Images[Image][row] = new EncodedImage(ImageCodec.EncodePng(Images.ImageCodecTests.Pattern(32, 24), 32, 24), null);
            }
        });

        var result = await TestDatasets.Reader(models, directory).ReadEpisodesAsync([0, 1]);

        Assert.Equal(12, result.Summary.SamplesUsed);
        Assert.Equal(16 * 16 * 3, result.Samples[0].Observation.Images[0].Length);
        var note = Assert.Single(result.Summary.Notes);
        Assert.Contains("6 images of 32x24 resized to the model's 16x16", note, StringComparison.Ordinal);
    }
}
