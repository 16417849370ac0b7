using A1Fleet.EarlyExit;
using A1Fleet.Engine.Calibration;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests.Calibration;

[Collection(ReferenceModelsCollection.Name)]
public sealed class ValuesCollectorTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData("fm", 1.0)]
    [InlineData("fm", 0.4)]
    [InlineData("mlp", 0.7)]
    public void Calibrate_ThenRun_EachSampleExitsWhereTheCalibratorAssignedIt(string head, double r)
    {
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var samples = ReferenceModelsFixture.Samples(engine).Take(24).ToList();
        var decode = DecodeSettings.EarlyExitWarmK2;
        var values = ValuesCollector.Collect(engine, samples, decode, DiscrepancyMetric.Cosine, seed: 3, batchSize: 5);
        var set = ThresholdSet.Calibrate(values, "cosine", ExitFamily.Exp, r, engine.ExitLayers.ToList(), engine.Layers, engine.IsFlowMatching, engine.ModelId,
            engine.Manifest.ModelVersion, "test", DateTimeOffset.UnixEpoch);

        var requests = samples.Select((s, i) => Requests.From(s, decode, set, ValuesCollector.SampleSeed(3, i))).ToList();
        var results = engine.Run(requests);
        var realised = new double[engine.ExitLayers.Count];
        Span<double> column = stackalloc double[values.Exits];
        for (var i = 0; i < samples.Count; i++)
        {
            values.CopyColumn(i, column);
            var expected = ThresholdCalibrator.ExitIndex(column, set.Thresholds);
            Assert.True(results[i].Succeeded, results[i].Error);
            Assert.Equal(engine.ExitLayers[expected], results[i].ExitLayer);
            realised[expected] += 1.0 / samples.Count;
        }

        Assert.Equal(set.ExpectedExitShares, realised, (a, b) => Math.Abs(a - b) < 1e-9);
    }

    [Fact]
    public void Collect_BatchSizeAndShardOffsets_DoNotChangeTheMatrix()
    {
        var engine = models.TinyFm;
        var samples = ReferenceModelsFixture.Samples(engine).Take(12).ToList();
        var whole = ValuesCollector.Collect(engine, samples, DecodeSettings.EarlyExitWarmK2, DiscrepancyMetric.L2, seed: 9, batchSize: 12);
        var first = ValuesCollector.Collect(engine, samples.Take(5).ToList(), DecodeSettings.EarlyExitWarmK2, DiscrepancyMetric.L2, seed: 9, batchSize: 2);
        var second = ValuesCollector.Collect(engine, samples.Skip(5).ToList(), DecodeSettings.EarlyExitWarmK2, DiscrepancyMetric.L2, seed: 9, firstSampleIndex: 5, batchSize: 3);
        var joined = ValuesMatrix.Concat([first, second]);
        for (var e = 0; e < whole.Exits; e++)
        {
            for (var s = 0; s < whole.Samples; s++)
            {
                Assert.True(Math.Abs(whole[e, s] - joined[e, s]) <= 1e-6, $"exit {e} sample {s}: {whole[e, s]} vs {joined[e, s]}");
                Assert.True(whole[e, s] >= 0 && double.IsFinite(whole[e, s]));
            }
        }
    }
}
