using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// Batches advanced a layer at a time, several in flight on one engine and interleaved, give exactly what each batch
/// gives run whole: every batch has its own buffers and bindings, so no step of one disturbs another.
/// </summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineSteppingTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData("fm", false)]
    [InlineData("mlp", false)]
    [InlineData("fm", true)]
    [InlineData("mlp", true)]
    public void Step_ThreeBatchesInterleaved_EachResultEqualsItsWholeBatchRun(string head, bool rebindInputsPerRun)
    {
        var reference = head == "fm" ? models.TinyFm : models.TinyMlp;
        using var owned = rebindInputsPerRun
            ? A1Engine.Load(reference.Package.Directory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1, RebindInputsPerRun = true, MaxBatchesInFlight = 3 })
            : null;
        var engine = owned ?? reference;
        var batches = Batches(engine);
        var whole = batches.Select(b => engine.Run(b)).ToArray();

        var answered = batches.Select(b => new List<int>()).ToArray();
        var stepped = batches.Select((b, i) => engine.Begin(b, onResult: (r, _) => answered[i].Add(r))).ToArray();
        try
        {
            // Uneven turns (the deep batch, then the other two twice each...) so the batches sit at different layers.
            int[] turns = [0, 1, 1, 2, 2];
            var turn = 0;
            while (stepped.Any(s => !s.IsCompleted))
            {
                var s = stepped[turns[turn++ % turns.Length]];
                if (!s.IsCompleted)
                {
                    var before = s.RemainingSteps;
                    s.Step();
                    Assert.True(s.RemainingSteps < before, $"a step left {s.RemainingSteps} of {before} steps");
                }
            }

            for (var b = 0; b < batches.Length; b++)
            {
                Assert.Equal(batches[b].Count, answered[b].Distinct().Count());
                Assert.Equal(0, stepped[b].RemainingSteps);
                AssertSame(whole[b], stepped[b].Results, $"batch {b}");
            }
        }
        finally
        {
            foreach (var s in stepped)
            {
                s.Dispose();
            }
        }

        // The buffers went back to the engine: a whole run after the interleaving still gives the same answers.
        AssertSame(whole[0], engine.Run(batches[0]), "batch 0 again");
    }

    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void WarmUp_BeforeAndAfterBatches_LeavesTheirResultsAsTheyWereAndTheBuffersFree(string head)
    {
        var reference = head == "fm" ? models.TinyFm : models.TinyMlp;
        using var engine = A1Engine.Load(reference.Package.Directory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1, MaxBatchesInFlight = 2 });
        var batches = Batches(engine);

        engine.WarmUp();
        var afterWarmUp = batches.Select(b => engine.Run(b)).ToArray();
        engine.WarmUp();

        for (var b = 0; b < batches.Length; b++)
        {
            AssertSame(afterWarmUp[b], engine.Run(batches[b]), $"batch {b} after a second warm-up");
            AssertSame(reference.Run(batches[b]), afterWarmUp[b], $"batch {b} against an engine never warmed up");
        }

        Assert.Equal(0, engine.BatchesInFlight);
        Assert.True(engine.CanBegin);
    }

    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void Step_BatchStatistics_CountEveryStepIncludingTheLast(string head)
    {
        // A silo's cost model learns from these statistics: a batch that left its last step out looked a third shorter
        // than it was when it stopped at the first exit, and the plans made on it came late.
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var requests = Batches(engine)[1];

        // Timed from outside, each step is a little longer than inside; all but the last step still fall short of the
        // whole. A preemption between two steps can add more than a tiny model's last step takes, so a few tries: the
        // outside times contain the inside ones, so a batch that left its last step out can never pass.
        var tries = new List<string>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var (stats, stepMs) = RunTimed(engine, requests);
            Assert.True(stepMs.Count >= 3, $"{stepMs.Count} steps (with Begin)");
            Assert.True(stats.TotalMs >= stats.OrtMs, $"busy {stats.TotalMs} ms, of which ONNX Runtime {stats.OrtMs} ms");
            Assert.True(stats.TotalMs <= stepMs.Sum(), $"busy {stats.TotalMs} ms against {stepMs.Sum()} ms of Begin and the steps");
            if (stats.TotalMs > stepMs.SkipLast(1).Sum())
            {
                return;
            }

            tries.Add($"busy {stats.TotalMs} ms against steps of {string.Join(", ", stepMs.Select(ms => ms.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)))} ms");
        }

        Assert.Fail($"in every try the batch's busy time fell short of all its steps but the last: {string.Join("; ", tries)}");
    }

    private static (BatchStatistics Stats, List<double> StepMs) RunTimed(A1Engine engine, List<InferenceRequest> requests)
    {
        var stats = new BatchStatistics();
        var stepMs = new List<double>();
        var begun = System.Diagnostics.Stopwatch.GetTimestamp();
        using (var batch = engine.Begin(requests, stats))
        {
            var beginMs = System.Diagnostics.Stopwatch.GetElapsedTime(begun).TotalMilliseconds;
            while (!batch.IsCompleted)
            {
                var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                batch.Step();
                stepMs.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }

            // Begin's checks count as the batch's too.
            stepMs[0] += beginMs;
        }

        return (stats, stepMs);
    }

    [Fact]
    public void Begin_PastMaxBatchesInFlight_ThrowsUntilOneIsDisposed()
    {
        var engine = models.TinyMlp;
        var requests = Batches(engine)[1];
        var inFlight = Enumerable.Range(0, engine.MaxBatchesInFlight).Select(_ => engine.Begin(requests)).ToList();
        try
        {
            Assert.False(engine.CanBegin);
            Assert.Equal(engine.MaxBatchesInFlight, engine.BatchesInFlight);
            var error = Assert.Throws<InvalidOperationException>(() => engine.Begin(requests));
            Assert.Contains("MaxBatchesInFlight", error.Message, StringComparison.Ordinal);

            // A whole run never waits for the bound: it borrows buffers of its own and leaves the batches in flight intact.
            var whole = engine.Run(requests);
            inFlight[0].Dispose();
            Assert.True(engine.CanBegin);
            using var again = engine.Begin(requests);
            while (!again.Step())
            {
            }

            AssertSame(whole, again.Results, "after a dispose");
            while (!inFlight[1].Step())
            {
            }

            AssertSame(whole, inFlight[1].Results, "in flight during the borrowed run");
        }
        finally
        {
            foreach (var s in inFlight)
            {
                s.Dispose();
            }
        }

        Assert.Equal(0, engine.BatchesInFlight);
    }

    [Fact]
    public void Dispose_BeforeCompleted_AnswersTheRemainingRowsCanceled()
    {
        var engine = models.TinyFm;
        var requests = Batches(engine)[0];
        var answers = new Dictionary<int, InferenceResult>();
        var batch = engine.Begin(requests, onResult: (i, r) => answers[i] = r);
        batch.Step();
        batch.Step();
        batch.Dispose();

        Assert.Equal(requests.Count, answers.Count);
        Assert.Contains(answers.Values, r => r.ErrorKind == InferenceErrorKind.Canceled);
        Assert.Throws<ObjectDisposedException>(() => batch.Step());
    }

    [Fact]
    public void Begin_MoreRowsThanMaxBatchSize_Throws()
    {
        var engine = models.TinyMlp;
        var sample = ReferenceModelsFixture.Samples(engine)[0];
        var requests = Enumerable.Range(0, engine.MaxBatchSize + 1).Select(i => Requests.From(sample, DecodeSettings.FullDepthK10, seed: (ulong)i)).ToList();

        Assert.Throws<ArgumentException>(() => engine.Begin(requests));
        Assert.Equal(0, engine.BatchesInFlight);
    }

    /// <summary>Three batches of different sizes and depths: a deep mixed one, a full-depth one, a shallow early-exit one.</summary>
    private static List<InferenceRequest>[] Batches(A1Engine engine)
    {
        var samples = ReferenceModelsFixture.Samples(engine);
        var mid = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.4-cosine");
        return
        [
            [
                Requests.From(samples[0], DecodeSettings.EarlyExitWarmK2, mid, seed: 1),
                Requests.From(samples[1], DecodeSettings.FullDepthK10, seed: 2),
                Requests.From(samples[2], DecodeSettings.EarlyExitColdK10, mid, seed: 3),
                Requests.From(samples[3], DecodeSettings.EarlyExitColdK2, mid, seed: 4, maxLayer: 2),
                Requests.From(samples[4], DecodeSettings.FullDepthK10, seed: 5, maxLayer: 3),
                Requests.From(samples[5], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: 6),
                Requests.From(samples[6], DecodeSettings.EarlyExitWarmK2, Requests.Always(engine), seed: 7),
                new InferenceRequest { Instruction = "", State = samples[7].State, Images = samples[7].Images, Seed = 8 },
                Requests.From(samples[7], DecodeSettings.EarlyExitWarmK2, mid, seed: 8) with { RecordDiscrepancies = true },
            ],
            [.. Enumerable.Range(3, 4).Select(i => Requests.From(samples[i], DecodeSettings.FullDepthK10, seed: (ulong)(i + 11)))],
            [.. Enumerable.Range(1, 5).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, mid, seed: (ulong)(i + 21), maxLayer: engine.ExitLayers[1]))],
        ];
    }

    private static void AssertSame(InferenceResult[] expected, InferenceResult[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var r = 0; r < expected.Length; r++)
        {
            var want = expected[r];
            var got = actual[r];
            Assert.True(got is not null, $"{what} request {r}: no result");
            Assert.Equal(want.ErrorKind, got.ErrorKind);
            Assert.Equal(want.Error, got.Error);
            Assert.Equal(want.ExitLayer, got.ExitLayer);
            Assert.Equal(want.LayersRun, got.LayersRun);
            Assert.Equal(want.HeadCalls, got.HeadCalls);
            Assert.Equal(want.DenoisingSteps, got.DenoisingSteps);
            Assert.Equal(want.ExpertLayerSteps, got.ExpertLayerSteps);
            Assert.Equal(want.StoppedAtCap, got.StoppedAtCap);
            Assert.Equal(want.Discrepancies, got.Discrepancies);
            // Exactly: the same graphs ran on the same rows in the same layout.
            Assert.True(want.Actions.AsSpan().SequenceEqual(got.Actions), $"{what} request {r}: actions differ");
        }
    }
}
