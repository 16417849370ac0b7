using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Calibration.Tests.Calibration;

[Collection(ReferenceModelsCollection.Name)]
public sealed class CalibrationRunTests(ReferenceModelsFixture models)
{
    [Fact]
    public async Task Run_ShippedDataset_ReproducesThePackagesOwnThresholds()
    {
        // ReferencePackages calibrated the package from samples.json (first 6 of 8 episodes, seed 0);
        // the converted dataset through CalibrationRun must land on the very same thresholds.
        var samples = (await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadAllAsync()).Samples;
        var run = new CalibrationRun(new CalibrationSettings { Source = "test" });

        var outcome = run.Run(models.TinyFm, samples);

        Assert.Equal(36, outcome.Values.Samples);
        Assert.Equal([0, 1, 2, 3, 4, 5], outcome.Split.CalibrationEpisodes);
        foreach (var set in outcome.Sets)
        {
            var shipped = ReferencePackages.LoadThresholds(models.TinyFm.Package, set.Name);
            Assert.Equal(shipped.Thresholds, set.Thresholds);
            Assert.Equal(shipped.ExpectedExitShares, set.ExpectedExitShares);
        }
    }

    [Fact]
    public async Task Run_HeldOutEvaluation_ExitsWhereTheHeldOutValuesSayItShould()
    {
        var samples = (await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadAllAsync()).Samples;
        var run = new CalibrationRun(new CalibrationSettings { Rs = [1.0, 0.4], Seed = 5 });

        var outcome = run.Run(models.TinyFm, samples);

        var heldOutValues = run.CollectValues(models.TinyFm, outcome.Split.HeldOut);
        Assert.Equal(2, outcome.HeldOut.Count);
        foreach (var evaluation in outcome.HeldOut)
        {
            var predicted = ThresholdCalibrator.RealisedShares(heldOutValues, evaluation.Set.Thresholds);
            Assert.Equal(predicted, evaluation.ExitShares.ToArray(), (a, b) => Math.Abs(a - b) < 1e-9);
            var predictedLayers = ThresholdCalibrator.ExpectedLayerFraction(predicted, models.TinyFm.ExitLayers, models.TinyFm.Layers, exitBlockRuns: true);
            Assert.Equal(1 - predictedLayers, evaluation.ComputeReduction, 9);
            Assert.Equal(12, evaluation.Samples);
        }

        Assert.True(outcome.HeldOut[1].ComputeReduction > outcome.HeldOut[0].ComputeReduction, "r = 0.4 should exit earlier than r = 1.0");
    }

    [Fact]
    public async Task CollectValues_SamplesWithGaps_SeedsEachSampleByItsGlobalIndex()
    {
        var all = (await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadEpisodesAsync([0, 1, 2])).Samples;
        var run = new CalibrationRun(new CalibrationSettings { Seed = 3, BatchSize = 4 });
        var withGaps = all.Where(s => s.GlobalIndex is not (4 or 9 or 10)).ToList();

        var whole = run.CollectValues(models.TinyFm, all);
        var gapped = run.CollectValues(models.TinyFm, withGaps);

        for (var column = 0; column < withGaps.Count; column++)
        {
            var global = withGaps[column].GlobalIndex;
            for (var exit = 0; exit < whole.Exits; exit++)
            {
                Assert.True(Math.Abs(whole[exit, global] - gapped[exit, column]) <= 1e-6, $"sample {global}, exit {exit}");
            }
        }
    }

    [Fact]
    public async Task CollectValues_ReportsProgressUpToTheTotal()
    {
        var samples = (await TestDatasets.Reader(models, TestDatasets.ShippedTinyFm).ReadEpisodesAsync([0, 1, 2])).Samples;
        var reports = new List<CalibrationProgress>();
        var run = new CalibrationRun(new CalibrationSettings { BatchSize = 8 });

        run.CollectValues(models.TinyFm, samples, new Recorder(reports));

        Assert.Equal([8, 16, 18], reports.Select(r => r.Done));
        Assert.All(reports, r => Assert.Equal(18, r.Total));
    }

    [Fact]
    public void HoldoutSplit_EightEpisodesQuarterHeldOut_HoldsOutTheLastTwo()
    {
        var samples = Enumerable.Range(0, 8).SelectMany(e => Enumerable.Range(0, 2).Select(f =>
            new DatasetSample((e * 2) + f, e, f, new ModelFormat.ObservationSample { Episode = e }))).ToList();

        var split = HoldoutSplit.ByEpisode(samples, 0.25);

        Assert.Equal([0, 1, 2, 3, 4, 5], split.CalibrationEpisodes);
        Assert.Equal([6, 7], split.HeldOutEpisodes);
        Assert.Equal(12, split.Calibration.Count);
        Assert.Empty(HoldoutSplit.ByEpisode(samples, 0).HeldOut);
    }

    [Fact]
    public void Constructor_InvalidSettings_ListsEveryProblem()
    {
        var settings = new CalibrationSettings
        {
            Families = [ExitFamily.Exp],
            Rs = [0, -1],
            Metric = "manhattan",
            Decode = DecodeSettings.FullDepthK10,
            HoldoutShare = 1,
            BatchSize = 0,
        };

        var error = Assert.Throws<ArgumentException>(() => new CalibrationRun(settings));

        foreach (var expected in new[] { "r 0 must be positive", "r -1 must be positive", "metric 'manhattan'", "early-exit", "holdout share 1", "batch size 0" })
        {
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DecodeFor_NoDecodeGiven_UsesTheModelDefaults()
    {
        var run = new CalibrationRun(new CalibrationSettings());

        Assert.Equal(DecodeSettings.EarlyExitWarmK2, run.DecodeFor(models.Manifest));
        Assert.Equal("cosine", run.MetricName(models.Manifest));
    }

    private sealed class Recorder(List<CalibrationProgress> reports) : IProgress<CalibrationProgress>
    {
        public void Report(CalibrationProgress value) => reports.Add(value);
    }
}
