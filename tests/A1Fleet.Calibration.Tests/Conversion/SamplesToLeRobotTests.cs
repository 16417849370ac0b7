using A1Fleet.Datasets.Conversion;
using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Calibration.Tests.Conversion;

[Collection(ReferenceModelsCollection.Name)]
public sealed class SamplesToLeRobotTests(ReferenceModelsFixture models)
{
    [Fact]
    public async Task ConvertPackage_TinyFm_OneEpisodePerSampleEpisodeWithTheirInstructions()
    {
        var directory = models.NewDirectory("convert");

        var result = await SamplesToLeRobot.ConvertPackageAsync(models.TinyFm.Package, directory, fps: 20, overwrite: true);

        var dataset = LeRobotDataset.Open(directory);
        Assert.Equal((8, 48, true), (result.Episodes, result.Frames, result.WithAction));
        Assert.All(dataset.Episodes, e => Assert.Equal(6, e.Length));
        var expectedTask = models.Samples.First(s => s.Episode == 3).Instruction;
        Assert.Equal([expectedTask], dataset.Episode(3).Tasks);
        Assert.Equal("a1fleet-sim/tiny-fm", dataset.Info.RobotType);
        Assert.Equal([6], dataset.Info.Features[FeatureKeys.Action].Shape);
    }

    [Fact]
    public void Convert_ShippedDatasetSize_StaysUnderOneMegabyte()
    {
        var bytes = Directory.EnumerateFiles(TestDatasets.ShippedTinyFm, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

        Assert.InRange(bytes, 1, 1024 * 1024);
    }

    [Fact]
    public async Task Convert_NoSamples_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => SamplesToLeRobot.ConvertAsync([], models.Manifest, models.NewDirectory("empty")));
    }
}
