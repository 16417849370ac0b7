using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Calibration.Tests.Cli;

[Collection(ReferenceModelsCollection.Name)]
public sealed class ConvertSamplesCommandTests(ReferenceModelsFixture models)
{
    [Fact]
    public async Task ConvertSamples_TinyFmPackage_WritesADatasetTheReaderAccepts()
    {
        var outDirectory = Path.Combine(models.NewDirectory("cli-convert"), "tiny-fm-sim");

        var (code, output, error) = await CalibrateCommandTests.RunAsync("convert-samples", "--model", models.TinyFmDirectory, "--out", outDirectory, "--fps", "10");

        Assert.True(code == 0, error);
        Assert.Contains("wrote 8 episodes, 48 frames", output, StringComparison.Ordinal);
        Assert.Equal(10, LeRobotDataset.Open(outDirectory).Info.Fps);
        Assert.Equal(48, (await TestDatasets.Reader(models, outDirectory).ReadAllAsync()).Samples.Count);
    }

    [Fact]
    public async Task ConvertSamples_ExistingDatasetWithoutOverwrite_ExitsOne()
    {
        var outDirectory = models.NewDirectory("cli-convert-twice");
        await CalibrateCommandTests.RunAsync("convert-samples", "--model", models.TinyFmDirectory, "--out", outDirectory);

        var (code, _, error) = await CalibrateCommandTests.RunAsync("convert-samples", "--model", models.TinyFmDirectory, "--out", outDirectory);

        Assert.Equal(1, code);
        Assert.Contains("already holds a dataset", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConvertSamples_MissingOptions_ListsBoth()
    {
        var (code, _, error) = await CalibrateCommandTests.RunAsync("convert-samples", "--fps", "-1");

        Assert.Equal(2, code);
        Assert.Contains("3 problem(s)", error, StringComparison.Ordinal);
        Assert.Contains("Option '--model' is required", error, StringComparison.Ordinal);
        Assert.Contains("Option '--out' is required", error, StringComparison.Ordinal);
        Assert.Contains("--fps -1: must be a positive number", error, StringComparison.Ordinal);
    }
}
