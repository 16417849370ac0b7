using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;

namespace A1Fleet.Calibration.Tests.Reading;

[Collection(ReferenceModelsCollection.Name)]
public sealed class ShippedDatasetTests(ReferenceModelsFixture models)
{
    private const string Regenerate =
        "calibration-jobs/datasets/tiny-fm-sim is stale: regenerate it with " +
        "`dotnet run --project calibration-jobs/A1Fleet.CalibrationJobs -- convert-samples --model <tiny-fm package> --out calibration-jobs/datasets/tiny-fm-sim --overwrite`";

    [Fact]
    public async Task ReadAll_ShippedTinyFmDataset_EqualsThePackageSamples()
    {
        var result = await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadAllAsync();
        var expected = models.Samples;

        Assert.Equal(48, result.Summary.SamplesUsed);
        Assert.Equal(0, result.Summary.SamplesSkipped);
        Assert.Empty(result.Summary.Notes);
        Assert.True(expected.Count == result.Samples.Count, Regenerate);
        for (var i = 0; i < expected.Count; i++)
        {
            var sample = result.Samples[i];
            Assert.Equal(i, sample.GlobalIndex);
            Assert.True(expected[i].Instruction == sample.Observation.Instruction, $"sample {i}: {Regenerate}");
            Assert.True(expected[i].State.AsSpan().SequenceEqual(sample.Observation.State), $"sample {i} state: {Regenerate}");
            Assert.True(expected[i].Images[0].AsSpan().SequenceEqual(sample.Observation.Images[0]), $"sample {i} image: {Regenerate}");
            Assert.Equal(expected[i].Episode, sample.Episode);
        }
    }

    [Fact]
    public async Task ReadAll_ActionMapped_ChunksEqualRecordedChunksAwayFromEpisodeEnd()
    {
        var result = await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadAllAsync();
        var expected = models.Samples;
        var chunk = models.Manifest.Action.Chunk;
        var width = DatasetMapping.ValidActionDims(models.Manifest);

        // A frame's chunk is built from the next H frames' actions; the last H-1 frames of an episode pad with the final action.
        var checkedFrames = 0;
        foreach (var sample in result.Samples.Where(s => s.Frame + chunk <= 6))
        {
            Assert.Equal(expected[sample.GlobalIndex].Actions, sample.Observation.Actions);
            checkedFrames++;
        }

        Assert.Equal(8 * (6 - chunk + 1), checkedFrames);
        var last = result.Samples.Single(s => s.Episode == 0 && s.Frame == 5).Observation.Actions!;
        Assert.Equal(last.AsSpan(0, width).ToArray(), last.AsSpan((chunk - 1) * width, width).ToArray());
    }

    [Fact]
    public async Task ReadEpisodes_SubsetInAnyOrder_KeepsGlobalIndicesOfTheWholeDataset()
    {
        var result = await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadEpisodesAsync([5, 2]);

        Assert.Equal([2, 5], result.Samples.Select(s => s.Episode).Distinct());
        Assert.Equal(Enumerable.Range(12, 6).Concat(Enumerable.Range(30, 6)), result.Samples.Select(s => s.GlobalIndex));
    }

    [Fact]
    public async Task ReadAll_FixedInstructionAndReorderedState_AppliesMapping()
    {
        var dataset = Datasets.LeRobot.LeRobotDataset.Open(TestDatasets.ShippedTinyFm);
        var mapping = DatasetMapping.Default(models.Manifest, dataset.Info);
        mapping.Instruction = "stack the blocks";
        mapping.StateDims = [5, 4, 3, 2, 1, 0];
        mapping.ActionKey = null;

        var result = await new LeRobotDatasetReader(dataset, models.Manifest, mapping).ReadEpisodesAsync([0]);

        var first = result.Samples[0].Observation;
        Assert.Equal("stack the blocks", first.Instruction);
        Assert.Equal(models.Samples[0].State.Reverse(), first.State);
        Assert.Null(first.Actions);
    }
}
