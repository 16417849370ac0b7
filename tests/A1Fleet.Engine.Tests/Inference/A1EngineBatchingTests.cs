using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Engine.Tests.Inference;

[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineBatchingTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void Run_MixedBatch_EachResultEqualsTheRequestRunAlone(string head)
    {
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var samples = ReferenceModelsFixture.Samples(engine);
        var mid = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.4-cosine");
        var requests = new List<InferenceRequest>
        {
            Requests.From(samples[0], DecodeSettings.EarlyExitWarmK2, mid, seed: 1),
            Requests.From(samples[1], DecodeSettings.FullDepthK10, seed: 2),
            Requests.From(samples[2], DecodeSettings.EarlyExitColdK10, mid, seed: 3),
            Requests.From(samples[3], DecodeSettings.EarlyExitColdK2, mid, seed: 4, maxLayer: 2),
            Requests.From(samples[4], DecodeSettings.FullDepthK10, seed: 5, maxLayer: 3),
            Requests.From(samples[5], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: 6),
            Requests.From(samples[6], DecodeSettings.EarlyExitWarmK2, Requests.Always(engine), seed: 7),
            Requests.From(samples[7], DecodeSettings.EarlyExitWarmK2, mid, seed: 8),
        };

        var batched = engine.Run(requests);
        for (var i = 0; i < requests.Count; i++)
        {
            var alone = engine.Run([requests[i]])[0];
            Assert.True(batched[i].Succeeded, batched[i].Error);
            Assert.Equal(alone.ExitLayer, batched[i].ExitLayer);
            Assert.Equal(alone.LayersRun, batched[i].LayersRun);
            Assert.Equal(alone.HeadCalls, batched[i].HeadCalls);
            Assert.Equal(alone.DenoisingSteps, batched[i].DenoisingSteps);
            for (var j = 0; j < alone.Actions.Length; j++)
            {
                Assert.True(Math.Abs(alone.Actions[j] - batched[i].Actions[j]) <= 1e-5, $"request {i} action {j}: alone {alone.Actions[j]}, batched {batched[i].Actions[j]}");
            }
        }
    }

    [Fact]
    public void Run_FullDepthK10_CountsEveryLayerOneHeadCallAndTenSteps()
    {
        var engine = models.TinyFm;
        var result = engine.Run([Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.FullDepthK10)])[0];
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(engine.Layers - 1, result.ExitLayer);
        Assert.Equal(engine.Layers, result.LayersRun);
        Assert.Equal(1, result.HeadCalls);
        Assert.Equal(10, result.DenoisingSteps);
        Assert.Equal(10 * engine.Layers, result.ExpertLayerSteps);
        Assert.False(result.StoppedAtCap);
        Assert.Equal(engine.Manifest.Action.Chunk * engine.ValidActionDims, result.Actions.Length);
    }

    [Fact]
    public void Run_ThresholdsAlwaysMet_ExitsAtFirstExitAfterTwoHeadCalls()
    {
        var engine = models.TinyFm;
        var result = engine.Run([Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.EarlyExitWarmK2, Requests.Always(engine))])[0];
        var first = engine.ExitLayers[0];
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(first, result.ExitLayer);
        Assert.Equal(first + 1, result.LayersRun);
        Assert.Equal(2, result.HeadCalls);
        Assert.Equal(4, result.DenoisingSteps);
        Assert.Equal((2 * first) + (2 * (first + 1)), result.ExpertLayerSteps);
    }

    [Fact]
    public void Run_MlpFullDepth_NeverRunsTheLastBlock()
    {
        // The MLP head at the last exit reads the stream entering the last block (A1's convention): that block's output
        // would reach no head.
        var engine = models.TinyMlp;
        var stats = new BatchStatistics();
        var result = engine.Run([Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.FullDepthK10)], stats)[0];
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(engine.Layers - 1, result.ExitLayer);
        Assert.Equal(engine.Layers - 1, result.LayersRun);
        Assert.Equal(engine.Layers - 1, stats.LanguageModelLayerRuns);
        Assert.Equal(1, result.HeadCalls);
    }

    [Fact]
    public void Run_MlpThresholdsAlwaysMet_ExitsAtFirstExitHavingRunOnlyTheBlocksBeforeIt()
    {
        var engine = models.TinyMlp;
        var result = engine.Run([Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.EarlyExitWarmK2, Requests.Always(engine))])[0];
        var first = engine.ExitLayers[0];
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(first, result.ExitLayer);
        Assert.Equal(first, result.LayersRun);
        Assert.Equal(2, result.HeadCalls);
    }

    [Fact]
    public void Run_MlpRowsLeavingAtDifferentExits_EachBlockRunsOnlyForTheRowsGoingPastIt()
    {
        var engine = models.TinyMlp;
        var samples = ReferenceModelsFixture.Samples(engine);
        var stats = new BatchStatistics();
        var results = engine.Run(
        [
            Requests.From(samples[0], DecodeSettings.EarlyExitWarmK2, Requests.Always(engine), seed: 1),
            Requests.From(samples[1], DecodeSettings.FullDepthK10, seed: 2),
            Requests.From(samples[2], DecodeSettings.FullDepthK10, seed: 3, maxLayer: engine.ExitLayers[1]),
        ], stats);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        Assert.Equal([engine.ExitLayers[0], engine.Layers - 1, engine.ExitLayers[1]], results.Select(r => r.LayersRun));
        Assert.Equal(engine.Layers - 1, stats.LanguageModelLayerRuns);
        Assert.Equal(results.Sum(r => r.LayersRun), stats.LanguageModelRowLayers);
    }

    [Fact]
    public void Run_ThresholdsNeverMet_VisitsEveryExitAndEndsAtTheLastLayer()
    {
        var engine = models.TinyFm;
        var result = engine.Run([Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine))])[0];
        Assert.Equal(engine.Layers - 1, result.ExitLayer);
        Assert.Equal(engine.ExitLayers.Count + 1, result.HeadCalls);
        Assert.Equal(2 * (engine.ExitLayers.Count + 1), result.DenoisingSteps);
    }

    [Fact]
    public void Run_MaxLayerBetweenExits_SnapsDownAndReportsTheCap()
    {
        var engine = models.TinyFm;
        var sample = ReferenceModelsFixture.Samples(engine)[0];
        var capped = engine.Run([Requests.From(sample, DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), maxLayer: engine.ExitLayers[1] + 1)])[0];
        Assert.Equal(engine.ExitLayers[1], capped.ExitLayer);
        Assert.True(capped.StoppedAtCap);

        var belowFirst = engine.Run([Requests.From(sample, DecodeSettings.FullDepthK10, maxLayer: 0)])[0];
        Assert.Equal(engine.ExitLayers[0], belowFirst.ExitLayer);
        Assert.True(belowFirst.StoppedAtCap);
    }

    [Fact]
    public void Run_SameSeed_SameChunk_OtherSeed_OtherChunk()
    {
        var engine = models.TinyFm;
        var sample = ReferenceModelsFixture.Samples(engine)[0];
        var a = engine.Run([Requests.From(sample, DecodeSettings.EarlyExitColdK2, Requests.Never(engine), seed: 11)])[0];
        var b = engine.Run([Requests.From(sample, DecodeSettings.EarlyExitColdK2, Requests.Never(engine), seed: 11)])[0];
        var c = engine.Run([Requests.From(sample, DecodeSettings.EarlyExitColdK2, Requests.Never(engine), seed: 12)])[0];
        Assert.Equal(a.Actions, b.Actions);
        Assert.NotEqual(a.Actions, c.Actions);
    }

    [Fact]
    public void Run_ActionsAreInsideTheNormalisationBounds()
    {
        var engine = models.TinyFm;
        var results = engine.Run(ReferenceModelsFixture.Samples(engine).Take(8).Select(s => Requests.From(s, DecodeSettings.FullDepthK10)).ToList());
        var action = engine.Manifest.Action;
        var valid = Enumerable.Range(0, action.Dim).Where(d => !action.PaddingDims.Contains(d)).ToArray();
        foreach (var r in results)
        {
            for (var i = 0; i < r.Actions.Length; i++)
            {
                var dim = valid[i % valid.Length];
                Assert.InRange(r.Actions[i], action.Q01[dim] - 1e-4f, action.Q99[dim] + 1e-4f);
            }
        }
    }

    [Fact]
    public void Run_MoreRequestsThanMaxBatch_RunsThemAll()
    {
        var engine = models.TinyMlp;
        var samples = ReferenceModelsFixture.Samples(engine);
        var requests = Enumerable.Range(0, engine.MaxBatchSize + 3).Select(i => Requests.From(samples[i % 5], DecodeSettings.FullDepthK10)).ToList();
        var results = engine.Run(requests);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        for (var i = 0; i + 5 < results.Length; i++)
        {
            // Same observation in the first and the second batch: the split must not change the answer.
            Assert.Equal(results[i].Actions, results[i + 5].Actions);
        }
    }
}
