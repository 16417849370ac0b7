using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains.Inference;
using A1Fleet.ModelBuilder.Packaging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Tests.Inference;

[Collection(FleetClusterCollection.Name)]
public sealed class InferenceServiceTests(FleetClusterFixture fixture)
{
    private InferenceService Service(InferenceDevice? device = null, Action<InferenceServiceOptions>? configure = null)
    {
        var options = new InferenceServiceOptions { ModelPackages = [fixture.TinyFmDirectory], Engine = { MaxBatchSize = 4, IntraOpThreads = 1 } };
        if (device is { } d)
        {
            options.Device = d;
        }

        configure?.Invoke(options);

        return new InferenceService(Options.Create(options), NullLogger<InferenceService>.Instance);
    }

    private static List<InferenceRequest> Requests(A1Engine engine, params int?[] caps)
    {
        var samples = ReferencePackages.HeldOut(engine.Package);
        var thresholds = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.7-cosine");
        return [.. caps.Select((cap, i) => new InferenceRequest
        {
            Instruction = "pick up the red block",
            State = samples[i % samples.Count].State,
            Images = samples[i % samples.Count].Images,
            Decode = DecodeSettings.EarlyExitWarmK2,
            Thresholds = thresholds,
            MaxLayer = cap,
            Seed = (ulong)i,
        })];
    }

    [Fact]
    public async Task RunAsync_DefaultOptions_RunsTheRealEngine()
    {
        Assert.Equal(InferenceDevice.Engine, new InferenceServiceOptions().Device);
        using var service = Service();
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var requests = Requests(engine, null, 1);

        var outcome = await service.RunAsync(engine.ModelId, requests, null, CancellationToken.None);
        var expected = engine.Run(requests);

        Assert.False(service.IsSimulated(engine.ModelId));
        // Priced at batch 1 and at its largest batch (the warm-up), the shape its grains' cost models scale.
        var prices = service.PricesOf(engine.ModelId);
        Assert.Equal((1, 4), (prices.BatchOne.Batch, prices.BatchMax.Batch));
        Assert.True(prices.BatchOne.PrefixMs > 0 && prices.BatchMax.PrefixMs > 0, $"{prices}");
        for (var i = 0; i < requests.Count; i++)
        {
            Assert.True(outcome.Results[i].Succeeded, outcome.Results[i].Error);
            Assert.Equal(expected[i].ExitLayer, outcome.Results[i].ExitLayer);
            Assert.Equal(expected[i].Actions, outcome.Results[i].Actions);
        }
    }

    [Fact]
    public async Task RunAsync_SimulatedDevice_AnswersWellFormedChunksAtTheirCaps()
    {
        using var service = Service(InferenceDevice.Simulated);
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var requests = Requests(engine, null, engine.ExitLayers[0], null);
        requests.Add(requests[0] with { State = [1f] });
        var real = engine.Run([requests[0]])[0];
        var answered = new List<int>();

        var outcome = await service.RunAsync(engine.ModelId, requests, (i, _) => answered.Add(i), CancellationToken.None);

        Assert.True(service.IsSimulated(engine.ModelId));
        Assert.Equal(requests.Count, answered.Count);
        foreach (var r in outcome.Results.Take(3))
        {
            Assert.True(r.Succeeded, r.Error);
            Assert.Equal(real.Chunk, r.Chunk);
            Assert.Equal(real.ActionDim, r.ActionDim);
            Assert.Equal(r.Chunk * r.ActionDim, r.Actions.Length);
            Assert.All(r.Actions, a => Assert.True(float.IsFinite(a)));
            Assert.Contains(r.ExitLayer, engine.ExitLayers);
            Assert.Equal(r.ExitLayer + 1, r.LayersRun);
        }

        Assert.Equal(engine.ExitLayers[0], outcome.Results[1].ExitLayer);
        Assert.Equal(InferenceErrorKind.InvalidInput, outcome.Results[3].ErrorKind);
        Assert.Equal(requests.Count, outcome.Statistics.Requests);
    }

    [Fact]
    public void SimulatedDevice_PricesFile_SimulatesThoseTimesScaledInsteadOfMeasuringItsOwn()
    {
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var file = Path.Combine(Path.GetTempPath(), $"a1-prices-{Guid.NewGuid():N}.json");
        var one = new PartTimings(1, PrefixMs: 7, LanguageModelLayerMs: 3, MlpHeadMs: 0, ExpertSuffixMs: 1, ExpertLayerMs: 0.5, ExpertOutputMs: 0.25);
        SimulatedPrices.Write(file, new Dictionary<string, ModelPrices> { [engine.ModelId] = new(one, one with { Batch = 4, PrefixMs = 20 }) });
        try
        {
            using var service = Service(InferenceDevice.Simulated, o => { o.SimulatedPricesFile = file; o.SimulatedTimeScale = 2; });

            var prices = service.PricesOf(engine.ModelId);
            Assert.Equal(one with { PrefixMs = 14, LanguageModelLayerMs = 6, ExpertSuffixMs = 2, ExpertLayerMs = 1, ExpertOutputMs = 0.5 }, prices.BatchOne);
            Assert.Equal(one with { Batch = 4, PrefixMs = 40, LanguageModelLayerMs = 6, ExpertSuffixMs = 2, ExpertLayerMs = 1, ExpertOutputMs = 0.5 }, prices.BatchMax);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task RunAsync_TwoBatchesInFlight_TheEarlierDeadlineRunsFirstAndEachEqualsItsWholeRun()
    {
        using var service = Service();
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var late = Requests(engine, null, null, null);
        var urgent = Requests(engine, null, engine.ExitLayers[1]);
        var now = TimeProvider.System.GetTimestamp();
        var order = new List<string>();

        // Hold the device thread until both batches are queued, so it takes them in together.
        using var release = new ManualResetEventSlim();
        var hold = service.RunOnDeviceAsync((_, ct) => release.Wait(TimeSpan.FromMinutes(1), ct), CancellationToken.None);
        var lateRun = service.RunAsync(engine.ModelId, late, (i, _) => { lock (order) { order.Add("late"); } }, [now + 10_000_000, now + 10_000_000, now + 10_000_000], CancellationToken.None);
        var urgentRun = service.RunAsync(engine.ModelId, urgent, (i, _) => { lock (order) { order.Add("urgent"); } }, [now + 1_000, now + 1_000], CancellationToken.None);
        release.Set();
        Assert.True(await hold);
        var lateOutcome = await lateRun;
        var urgentOutcome = await urgentRun;

        Assert.Equal("urgent", order[0]);
        Assert.Equal(5, order.Count);
        foreach (var (requests, outcome) in new[] { (late, lateOutcome), (urgent, urgentOutcome) })
        {
            var whole = engine.Run(requests);
            for (var i = 0; i < requests.Count; i++)
            {
                Assert.True(outcome.Results[i].Succeeded, outcome.Results[i].Error);
                Assert.Equal(whole[i].ExitLayer, outcome.Results[i].ExitLayer);
                Assert.Equal(whole[i].Actions, outcome.Results[i].Actions);
            }
        }

        Assert.Equal(0, service.BatchesInFlight);
    }
    [Theory]
    [InlineData(null)]
    [InlineData(0)]
    [InlineData(1)]
    public async Task RunAsync_TwoBatchesThatFitInOne_TheSecondCatchesUpJoinsAndEachAnswersAsItsWholeRun(int? expertLayersPerStep)
    {
        // Heads whole, in parts of one expert layer (the second catches up across the first's heads), and as warm-up sizes them.
        using var service = Service(configure: o => o.Engine.ExpertLayersPerStep = expertLayersPerStep);
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var first = Requests(engine, null, null);
        var second = Requests(engine, engine.ExitLayers[1], null);
        Assert.True(service.JoinsBatches(engine.ModelId));

        var (firstOutcome, secondOutcome, joined) = await RunTogether(service, engine, first, second, deadlineTicks: long.MaxValue);

        Assert.Equal(1, service.BatchesJoined);
        // The guest was told, the host was not.
        Assert.Equal(1, joined.Count(j => j));
        Assert.True(firstOutcome.Statistics.Joined && secondOutcome.Statistics.Joined);
        AssertAsWholeRun(engine, first, firstOutcome);
        AssertAsWholeRun(engine, second, secondOutcome);
        Assert.Equal(0, service.BatchesInFlight);
    }

    [Fact]
    public async Task RunAsync_JoinedBatchWhoseStepFails_BothAreAnsweredAndTheDeviceGoesOn()
    {
        using var service = Service();
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var first = Requests(engine, null, null);
        var second = Requests(engine, null, null);
        // The first answer of either batch throws in the step that delivers it: by then the two have joined, and that
        // step is the host's, carrying the guest's rows too.
        var answers = 0;
        void Fail(int row, InferenceResult result)
        {
            if (Interlocked.Increment(ref answers) == 1)
            {
                throw new InvalidOperationException("the answer's consumer failed");
            }
        }

        var (outcomes, _) = await RunTogether(service, engine, first, second, deadlineTicks: long.MaxValue, onResult: Fail, waitFor: run => run.ContinueWith(t => t));

        Assert.Equal(1, service.BatchesJoined);
        // The host's run fails with the step; the guest's rows, abandoned with it, are answered as failures, not left waiting.
        var failed = Assert.Single(outcomes, o => o.IsFaulted);
        Assert.Equal("the answer's consumer failed", failed.Exception!.InnerException!.Message);
        var guest = await Assert.Single(outcomes, o => o.IsCompletedSuccessfully);
        Assert.All(guest.Results, r => Assert.False(r.Succeeded));
        Assert.Equal(0, service.BatchesInFlight);
        AssertAsWholeRun(engine, first, await service.RunAsync(engine.ModelId, first, null, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task RunAsync_FaultInTheDeviceThreadsScheduling_FailsTheBatchesOnTheDeviceAndGoesOn()
    {
        using var service = Service();
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var requests = Requests(engine, null, null);
        using var release = new ManualResetEventSlim();
        var hold = service.RunOnDeviceAsync((_, ct) => release.Wait(TimeSpan.FromMinutes(1), ct), CancellationToken.None);
        var bystander = service.RunAsync(engine.ModelId, requests, null, [long.MaxValue, long.MaxValue], CancellationToken.None);
        // Deadlines the device thread cannot read stand in for any fault of its own bookkeeping: it reads them to place
        // the batch among those in flight, outside any one batch's step.
        var faulty = service.RunAsync(engine.ModelId, requests, null, new UnreadableDeadlines(requests.Count), CancellationToken.None);
        release.Set();
        Assert.True(await hold);

        var fault = await Assert.ThrowsAsync<InvalidOperationException>(() => faulty.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal(UnreadableDeadlines.Message, fault.Message);
        // Already on the device when the fault came: failed with it (its bookkeeping is the same as the faulty one's).
        Assert.Same(fault, await Assert.ThrowsAsync<InvalidOperationException>(() => bystander.WaitAsync(TimeSpan.FromMinutes(1))));
        Assert.Equal(0, service.BatchesInFlight);
        AssertAsWholeRun(engine, requests, await service.RunAsync(engine.ModelId, requests, null, [long.MaxValue, long.MaxValue], CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1)));
    }

    private sealed class UnreadableDeadlines(int count) : IReadOnlyList<long>
    {
        public const string Message = "deadline unreadable";

        public int Count => count;

        public long this[int index] => throw new InvalidOperationException(Message);

        public IEnumerator<long> GetEnumerator() => throw new InvalidOperationException(Message);

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public async Task RunAsync_BatchesWithoutTheSlackToJoin_RunInterleavedEachOnItsOwn()
    {
        // Due at once: neither can wait for the other to catch up, nor run at the joined size within its deadline.
        using var service = Service();
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var first = Requests(engine, null, null);
        var second = Requests(engine, null, null);

        var (firstOutcome, secondOutcome, joined) = await RunTogether(service, engine, first, second, deadlineTicks: TimeProvider.System.GetTimestamp());

        Assert.Equal(0, service.BatchesJoined);
        Assert.DoesNotContain(true, joined);
        Assert.False(firstOutcome.Statistics.Joined || secondOutcome.Statistics.Joined);
        AssertAsWholeRun(engine, first, firstOutcome);
        AssertAsWholeRun(engine, second, secondOutcome);
    }

    [Fact]
    public void JoinsBatches_SimulatedDevice_DoesNot()
    {
        using var service = Service(InferenceDevice.Simulated);
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });

        Assert.False(service.JoinsBatches(engine.ModelId));
        Assert.False(service.JoinsBatches("no-such-model"));
    }

    /// <summary>Both batches queued while the device thread is held, so it takes them in together, every row due at <paramref name="deadlineTicks"/>.</summary>
    /// <returns>Both outcomes, and whether each batch was told it joined the other.</returns>
    private static async Task<(BatchOutcome First, BatchOutcome Second, bool[] Joined)> RunTogether(InferenceService service, A1Engine engine, List<InferenceRequest> first,
        List<InferenceRequest> second, long deadlineTicks)
    {
        var (outcomes, joined) = await RunTogether(service, engine, first, second, deadlineTicks, onResult: null, waitFor: run => run);
        return (outcomes[0], outcomes[1], joined);
    }

    /// <param name="waitFor">What of each run to wait for (at most a minute each: a batch never answered fails the test instead of hanging it).</param>
    private static async Task<(T[] Outcomes, bool[] Joined)> RunTogether<T>(InferenceService service, A1Engine engine, List<InferenceRequest> first,
        List<InferenceRequest> second, long deadlineTicks, Action<int, InferenceResult>? onResult, Func<Task<BatchOutcome>, Task<T>> waitFor)
    {
        using var release = new ManualResetEventSlim();
        var joined = new[] { new TaskCompletionSource(), new TaskCompletionSource() };
        var hold = service.RunOnDeviceAsync((_, ct) => release.Wait(TimeSpan.FromMinutes(1), ct), CancellationToken.None);
        var firstRun = service.RunAsync(engine.ModelId, first, onResult, [.. first.Select(_ => deadlineTicks)], CancellationToken.None, joined[0]);
        var secondRun = service.RunAsync(engine.ModelId, second, onResult, [.. second.Select(_ => deadlineTicks)], CancellationToken.None, joined[1]);
        release.Set();
        Assert.True(await hold);
        T[] outcomes = [await waitFor(firstRun).WaitAsync(TimeSpan.FromMinutes(1)), await waitFor(secondRun).WaitAsync(TimeSpan.FromMinutes(1))];
        return (outcomes, [.. joined.Select(j => j.Task.IsCompleted)]);
    }

    /// <summary>The same exits, and actions equal to float rounding (a joined batch runs its rows at a larger size, which may take other kernels).</summary>
    private static void AssertAsWholeRun(A1Engine engine, List<InferenceRequest> requests, BatchOutcome outcome)
    {
        var whole = engine.Run(requests);
        for (var i = 0; i < requests.Count; i++)
        {
            Assert.True(outcome.Results[i].Succeeded, outcome.Results[i].Error);
            Assert.Equal(whole[i].ExitLayer, outcome.Results[i].ExitLayer);
            Assert.Equal(whole[i].Actions.Length, outcome.Results[i].Actions.Length);
            for (var k = 0; k < whole[i].Actions.Length; k++)
            {
                Assert.True(Math.Abs(whole[i].Actions[k] - outcome.Results[i].Actions[k]) <= 1e-4 * Math.Max(1, Math.Abs(whole[i].Actions[k])),
                    $"request {i} action value {k}: {outcome.Results[i].Actions[k]} against {whole[i].Actions[k]}");
            }
        }
    }
}
