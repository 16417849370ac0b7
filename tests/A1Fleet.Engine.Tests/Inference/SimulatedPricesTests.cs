using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests.Inference;

public sealed class SimulatedPricesTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"a1-prices-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(_file);

    private static readonly PartTimings One = new(1, PrefixMs: 7.5, LanguageModelLayerMs: 1.25, MlpHeadMs: 0.5, ExpertSuffixMs: 0, ExpertLayerMs: 0, ExpertOutputMs: 0);

    [Fact]
    public void Read_WhatWriteWrote_TheSamePrices()
    {
        var written = new Dictionary<string, ModelPrices> { ["small-mlp"] = new(One, One with { Batch = 32, PrefixMs = 40 }) };
        SimulatedPrices.Write(_file, written);

        var read = SimulatedPrices.Read(_file);

        Assert.Equal(written["small-mlp"], read["small-mlp"]);
    }

    [Fact]
    public void HeadMs_Mlp_OneCallWhateverTheExitAndSteps()
    {
        Assert.Equal(0.5, One.HeadMs(layer: 11, denoisingSteps: 2));
        Assert.Equal(0.5, One.HeadMs(layer: 1, denoisingSteps: 0));
    }

    [Fact]
    public void HeadMs_FlowMatching_EachDenoisingStepPassesTheExpertOverBlocksUpToTheExit()
    {
        var fm = new PartTimings(1, PrefixMs: 8, LanguageModelLayerMs: 3.5, MlpHeadMs: 0, ExpertSuffixMs: 0.25, ExpertLayerMs: 0.5, ExpertOutputMs: 0.125);

        // Exit 11 of a 12-layer model: two steps of suffix, 12 expert layers and output.
        Assert.Equal(2 * (0.25 + 0.125 + (12 * 0.5)), fm.HeadMs(layer: 11, denoisingSteps: 2), 10);
        Assert.Equal(0.25 + 0.125 + (2 * 0.5), fm.HeadMs(layer: 1, denoisingSteps: 1), 10);

        // Between the measured sizes the head is priced as its parts are: linearly.
        var prices = new ModelPrices(fm, fm with { Batch = 9, ExpertSuffixMs = 0.5, ExpertLayerMs = 1.5, ExpertOutputMs = 0.375 });
        Assert.Equal(2 * (0.375 + 0.25 + (2 * 1.0)), prices.HeadMs(layer: 1, batch: 5, denoisingSteps: 2), 10);
    }

    [Theory]
    [InlineData("not json", "not a JSON object")]
    [InlineData("{}", "no model's prices")]
    [InlineData("""{"m": {"batchOne": {"batch": 1, "prefixMs": 1}}}""", "model 'm' needs both batchOne and batchMax")]
    [InlineData("""{"m": {"batchOne": {"batch": 2}, "batchMax": {"batch": 4}}}""", "batchOne.batch must be 1 (is 2)")]
    [InlineData("""{"m": {"batchOne": {"batch": 1, "prefixMs": -1}, "batchMax": {"batch": 4}}}""", "batchOne.prefixMs -1 must be a finite number of ms")]
    public void Read_BadFile_FailsNamingTheFileModelAndField(string text, string message)
    {
        File.WriteAllText(_file, text);

        var error = Assert.Throws<InvalidDataException>(() => SimulatedPrices.Read(_file));

        Assert.Contains(_file, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
