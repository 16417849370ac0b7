using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>The simulated device steps as the engine does: interleaved batches answer as each does run whole.</summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class SimulatedDeviceTests(ReferenceModelsFixture models)
{
    // Free parts: the device spends no time, so the test never sleeps.
    private static readonly PartTimings Free = new(1, 0, 0, 0, 0, 0, 0);

    [Fact]
    public void Begin_TwoBatchesInterleaved_EachAnswersAsItsWholeRun()
    {
        var engine = models.TinyFm;
        var device = new SimulatedDevice(engine, Free, Free with { Batch = engine.MaxBatchSize });
        var sample = ReferenceModelsFixture.Samples(engine)[0];
        List<InferenceRequest>[] batches =
        [
            [.. Enumerable.Range(0, 5).Select(i => Requests.From(sample, DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: (ulong)i))],
            [.. Enumerable.Range(0, 3).Select(i => Requests.From(sample, DecodeSettings.FullDepthK10, seed: (ulong)(i + 7), maxLayer: engine.ExitLayers[1]))],
        ];
        var whole = batches.Select(b => device.Run(b)).ToArray();

        var stepped = batches.Select(b => device.Begin(b)).ToArray();
        Assert.All(stepped, s => Assert.Equal(-1, s.NextLayer));
        while (stepped.Any(s => !s.IsCompleted))
        {
            foreach (var s in stepped.Where(s => !s.IsCompleted))
            {
                var before = s.RemainingSteps;
                s.Step();
                Assert.True(s.RemainingSteps < before, $"a step left {s.RemainingSteps} of {before} steps");
            }
        }

        for (var b = 0; b < batches.Length; b++)
        {
            for (var r = 0; r < batches[b].Count; r++)
            {
                var want = whole[b][r];
                var got = stepped[b].Results[r];
                Assert.True(got.Succeeded, got.Error);
                Assert.Equal(want.ExitLayer, got.ExitLayer);
                Assert.Equal(want.LayersRun, got.LayersRun);
                Assert.Equal(want.HeadCalls, got.HeadCalls);
                Assert.Equal(want.StoppedAtCap, got.StoppedAtCap);
                Assert.Equal(want.Actions, got.Actions);
            }

            stepped[b].Dispose();
        }

        Assert.All(whole[1], r => Assert.Equal(engine.ExitLayers[1], r.ExitLayer));
    }

    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void Run_FullDepthAtEachCap_RunsTheLayersTheEngineRuns(string head)
    {
        // The MLP's head reads the stream entering its exit block, so it runs one block fewer than the FM at each exit.
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var device = new SimulatedDevice(engine, Free, Free with { Batch = engine.MaxBatchSize });
        var sample = ReferenceModelsFixture.Samples(engine)[0];
        var stats = new BatchStatistics();
        var requests = engine.ExitLayers.Select(exit => Requests.From(sample, DecodeSettings.FullDepthK10, maxLayer: exit)).ToList();
        var simulated = device.Run(requests, stats);
        var real = engine.Run(requests);
        for (var i = 0; i < requests.Count; i++)
        {
            Assert.Equal(real[i].ExitLayer, simulated[i].ExitLayer);
            Assert.Equal(real[i].LayersRun, simulated[i].LayersRun);
        }

        Assert.Equal(real.Max(r => r.LayersRun), stats.LanguageModelLayerRuns);
    }
}
