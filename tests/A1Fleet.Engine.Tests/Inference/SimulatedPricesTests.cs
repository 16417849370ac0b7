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
