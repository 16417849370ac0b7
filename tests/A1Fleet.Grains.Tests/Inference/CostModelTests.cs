using A1Fleet.Engine.Inference;
using A1Fleet.Grains.Inference;

namespace A1Fleet.Grains.Tests.Inference;

public sealed class CostModelTests
{
    // An MLP-head model of 8 layers with exits at 1, 3, 5, 7: at batch 1, layer L at early exit costs
    // prefix 3 + L blocks x 1 (the head at L reads the stream entering block L) + a head before the first exit and one per
    // exit passed (0.5 each): 5, 7.5, 10, 12.5 ms.
    internal static readonly PartTimings Prices = new(1, PrefixMs: 3, LanguageModelLayerMs: 1, MlpHeadMs: 0.5, 0, 0, 0);
    internal static readonly int[] Exits = [1, 3, 5, 7];

    // The same model measured at batch 5 too: prefix 10, layer 2, head 1. At batch 3 (halfway) each part costs 6.5, 1.5, 0.75.
    private static readonly ModelPrices Measured = new(Prices, new PartTimings(5, PrefixMs: 10, LanguageModelLayerMs: 2, MlpHeadMs: 1, 0, 0, 0));

    [Theory]
    [InlineData(1, 1, 5.0)]
    [InlineData(1, 7, 12.5)]
    [InlineData(4, 3, 30.0)]
    public void Predict_PricedAtBatchOneOnly_AssumesNoBatchingGain(int batch, int layer, double expected)
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        Assert.Equal(expected, model.Predict(batch, layer, DecodeSettings.EarlyExitWarmK2), 9);
    }

    [Theory]
    [InlineData(1, 3, 7.5)]
    [InlineData(3, 3, 6.5 + (3 * 1.5) + (3 * 0.75))]
    [InlineData(5, 1, 10 + 2 + (2 * 1))]
    [InlineData(8, 1, 10 + 2 + (2 * 1))]
    public void Predict_MeasuredAtTheLargestBatchToo_EachPartAtItsInterpolatedPrice(int batch, int layer, double expected)
    {
        var model = new CostModel(Measured, Exits, maxBatch: 8);

        Assert.Equal(expected, model.Predict(batch, layer, DecodeSettings.EarlyExitWarmK2), 9);
        Assert.Equal(Measured.PriceMs(static p => p.LanguageModelLayerMs, batch), model.LayerMs(batch), 9);
    }

    [Fact]
    public void Observe_ABatchSlowerThanPredicted_SlowsEverySizeAndItsOwnSizeMore()
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        // Two rows to layer 7 with no batching gain: 25 ms predicted, 50 taken.
        model.Observe(2, 7, DecodeSettings.EarlyExitWarmK2, actualMs: 50);

        Assert.Equal(1.3, model.Speed, 9);
        Assert.Equal(1.3 * 1.1, model.Factor(2), 9);
        // A size never run is planned on what the device does now, not on what it did when it was last run.
        Assert.Equal(1.3, model.Factor(4), 9);
        Assert.Equal(1.3, model.Factor(1), 9);
    }

    [Fact]
    public void Predict_AfterBatchesThatStrayed_PlansForTheirSpread()
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        model.Observe(2, 7, DecodeSettings.EarlyExitWarmK2, actualMs: 50);

        // The batch strayed by 100 % of its prediction: the spread moves a tenth of the way, and plans use twice it.
        Assert.Equal(0.1, model.Spread, 9);
        Assert.Equal(1.3 * 1.2, model.PlanningFactor(4), 9);
        Assert.Equal(1.3 * 1.2 * 50, model.Predict(4, 7, DecodeSettings.EarlyExitWarmK2), 9);
    }

    [Fact]
    public void Observe_SteadyDevice_LearnsItsSpeedAndTheSpreadFades()
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        for (var i = 0; i < 80; i++)
        {
            model.Observe(2, 7, DecodeSettings.EarlyExitWarmK2, actualMs: 50);
        }

        Assert.Equal(50, model.Predict(2, 7, DecodeSettings.EarlyExitWarmK2), 0.5);
        Assert.True(model.Spread < 0.005, $"spread {model.Spread}");
    }

    [Fact]
    public void Observe_BatchTimedAcrossAStall_MovesTheFactorAtMostFourfold()
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        // A 2.5 s pause of the whole process inside a 5 ms batch: learned as the device, it would refuse every request.
        model.Observe(1, 1, DecodeSettings.EarlyExitWarmK2, actualMs: 2505);

        Assert.Equal(1 + (0.3 * 3), model.Speed, 9);
        Assert.Equal(1.9 * (1 + (0.1 * 3)), model.Factor(1), 9);
        Assert.True(model.Predict(1, 1, DecodeSettings.EarlyExitWarmK2) < 200, $"a first exit now predicted at {model.Predict(1, 1, DecodeSettings.EarlyExitWarmK2)} ms");
    }

    [Fact]
    public void Observe_RowsThatLeftEarly_TheBatchIsPricedAtTheRowsStillInItEachStep()
    {
        // A device with no batching gain, as the prior assumes: each step costs its batch-1 price times the rows in it.
        // Four rows, three leaving at exit 1: prefix 4 x 3, block 0 at 4 rows 4, blocks 1-6 at 1 row 6 (block 7 never runs),
        // the head before the first exit and at exit 1 at 4 rows 4, at exits 3, 5, 7 at 1 row 1.5 = 27.5 ms.
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        model.Observe([1, 1, 1, 7], DecodeSettings.EarlyExitWarmK2, actualMs: 27.5);

        // Judged as four rows at layer 7 (50 ms) it would read a device twice as fast and plan a full batch at 27.5 ms.
        Assert.Equal(1.0, model.Factor(4), 9);
        Assert.Equal(0, model.Spread, 9);
        Assert.Equal(50.0, model.Predict(4, 7, DecodeSettings.EarlyExitWarmK2), 9);
    }

    [Fact]
    public void Observe_RowsThatLeftEarly_EachStepAtTheMeasuredPriceOfItsRows()
    {
        // Measured at batch 5: three rows to exit 1 and one to exit 7 is the prefix at 4 rows (8.25), block 0 at 4 rows
        // (1.75), blocks 1-6 at 1 row (6), heads before the first exit and at exit 1 at 4 rows (2 x 0.875), at exits 3, 5, 7
        // at 1 row (1.5) = 19.25 ms.
        var model = new CostModel(Measured, Exits, maxBatch: 8);

        model.Observe([1, 1, 1, 7], DecodeSettings.EarlyExitWarmK2, actualMs: 19.25);

        Assert.Equal(1.0, model.Speed, 9);
        Assert.Equal(0, model.Spread, 9);
    }

    [Fact]
    public void Observe_FailedRow_CountsOnlyForThePrefix()
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        // Prefix at 2 rows 6, blocks 0-6 at 1 row 7, heads at 1 row 2.5 = 15.5 ms on a device with no batching gain.
        model.Observe([-1, 7], DecodeSettings.EarlyExitWarmK2, actualMs: 15.5);

        Assert.Equal(1.0, model.Factor(2), 9);
        Assert.Equal(0, model.Spread, 9);
    }

    [Fact]
    public void Observe_EveryRowToTheSameLayer_IsTheWholeBatchAtThatLayer()
    {
        var byRows = new CostModel(Prices, Exits, maxBatch: 8);
        var whole = new CostModel(Prices, Exits, maxBatch: 8);

        byRows.Observe([5, 5, 5], DecodeSettings.FullDepthK10, actualMs: 21);
        whole.Observe(3, 5, DecodeSettings.FullDepthK10, actualMs: 21);

        // Full depth to layer 5: prefix 3, blocks 0-4 5, the head once 0.5 = 8.5 ms a row, 25.5 for three with no batching gain.
        var ratio = 21 / 25.5;
        Assert.Equal(whole.Factor(3), byRows.Factor(3), 9);
        Assert.Equal((1 + (0.3 * (ratio - 1))) * (1 + (0.1 * (ratio - 1))), byRows.Factor(3), 9);
    }

    [Theory]
    [InlineData(1, 12.5, 7)]
    [InlineData(1, 9.99, 3)]
    [InlineData(1, 5, 1)]
    [InlineData(1, 4.99, null)]
    [InlineData(2, 15, 3)]
    public void DeepestExitWithin_TimeAvailable_IsTheDeepestExitThatFits(int batch, double availableMs, int? expected)
    {
        var model = new CostModel(Prices, Exits, maxBatch: 8);

        Assert.Equal(expected, model.DeepestExitWithin(batch, availableMs, DecodeSettings.EarlyExitWarmK2));
    }

    [Fact]
    public void Predict_FlowMatchingHead_RunsTheExitBlockToo()
    {
        // The FM expert at exit L attends to block L's K/V: L + 1 blocks. Full depth K=10 at exit 3, batch 1: prefix 3,
        // blocks 0-3 4, ten steps of suffix + output (0.2) and four expert layers (0.1 each) 6 = 13 ms.
        var fm = new PartTimings(1, PrefixMs: 3, LanguageModelLayerMs: 1, MlpHeadMs: 0, ExpertSuffixMs: 0.1, ExpertLayerMs: 0.1, ExpertOutputMs: 0.1);
        var model = new CostModel(fm, Exits, maxBatch: 8);

        Assert.Equal(13.0, model.Predict(1, 3, DecodeSettings.FullDepthK10), 9);
    }
}
