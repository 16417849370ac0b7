using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// A flow-matching head run in steps of its own (<see cref="A1Engine.ExpertLayersPerStep"/>): a batch arriving while
/// another's head runs waits for a few expert layers, not the whole head, and every row answers as with the head whole.
/// </summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineHeadStepsTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Run_HeadInSteps_AnswersAsTheWholeHeadDoes(int expertLayersPerStep)
    {
        using var split = Load(expertLayersPerStep);
        var requests = MixedRequests(split);

        var expected = models.TinyFm.Run(requests);
        var actual = split.Run(requests);

        Assert.Equal(expertLayersPerStep, split.ExpertLayersPerStep);
        Answers.AssertClose(expected, actual, "head in steps");
    }

    [Fact]
    public void Step_HeadInSteps_TakesTheStepsRemainingStepsCounted()
    {
        using var split = Load(expertLayersPerStep: 1);
        var samples = ReferenceModelsFixture.Samples(split);
        // Never agreeing, every row runs the head at the reference layer and every exit: the count is exact.
        using var batch = split.Begin([Requests.From(samples[0], DecodeSettings.EarlyExitWarmK2, Requests.Never(split), seed: 3)]);
        var counted = batch.RemainingSteps;
        // A layer past the model's last (another model's, asked by a scheduler) counts to the end.
        Assert.Equal(counted, batch.StepsUntil(split.Layers + 5));
        // Prefix, one step per layer, and per head 2 passes of (exit + 1) expert layers one at a time.
        var heads = split.ExitLayers.Prepend(split.ExitLayers[0] - 1).Sum(exit => 2 * (exit + 1));
        Assert.Equal(1 + split.Layers + heads, counted);

        var steps = 0;
        do
        {
            steps++;
            Assert.Equal(counted - steps + 1, batch.RemainingSteps);
        }
        while (!batch.Step());

        Assert.Equal(counted, steps);
        Assert.Equal(0, batch.RemainingSteps);
        Assert.True(batch.Results[0].Succeeded, batch.Results[0].Error);
        Assert.Equal(split.Layers - 1, batch.Results[0].ExitLayer);
    }

    [Fact]
    public void TryJoin_WhileAHeadIsUnderWay_IsRefusedThenJoinsAndAnswersAsAlone()
    {
        using var split = Load(expertLayersPerStep: 1);
        var samples = ReferenceModelsFixture.Samples(split);
        var mid = ReferencePackages.LoadThresholds(split.Package, "exp-r0.4-cosine");
        List<InferenceRequest> first = [.. Enumerable.Range(0, 2).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, mid, seed: (ulong)(i + 1)))];
        List<InferenceRequest> second = [Requests.From(samples[3], DecodeSettings.EarlyExitWarmK2, Requests.Never(split), seed: 11)];
        var alone = (first: split.Run(first), second: split.Run(second));
        using var host = split.Begin(first);
        using var joining = split.Begin(second);

        // Both stand at layer 0 with the reference head (layer 0 here) under way after their block.
        host.Step();
        host.Step();
        joining.Step();
        joining.Step();
        Assert.Equal(0, host.NextLayer);
        Assert.True(host.StepsUntil(0) > 0, "a head is under way at layer 0");
        Assert.False(host.TryJoin(joining));
        while (host.NextLayer == 0)
        {
            host.Step();
        }

        while (joining.NextLayer == 0)
        {
            joining.Step();
        }

        Assert.True(host.TryJoin(joining));
        while (!host.Step())
        {
        }

        Assert.True(joining.IsCompleted);
        Answers.AssertClose(alone.first, host.Results, "host");
        Answers.AssertClose(alone.second, joining.Results, "joined");
    }

    [Fact]
    public void Dispose_AGuestWhileItsHostsHeadIsUnderWay_AnswersItCanceledAndTheHostAsAlone()
    {
        using var split = Load(expertLayersPerStep: 1);
        var samples = ReferenceModelsFixture.Samples(split);
        var never = Requests.Never(split);
        List<InferenceRequest> first = [.. Enumerable.Range(0, 2).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, never, seed: (ulong)(i + 1)))];
        List<InferenceRequest> second = [Requests.From(samples[3], DecodeSettings.EarlyExitWarmK2, never, seed: 11)];
        var alone = split.Run(first);
        var answers = new Dictionary<int, InferenceResult>();
        using var host = split.Begin(first);
        var joining = split.Begin(second, onResult: (i, r) => answers[i] = r);
        // Past the heads at layers 0 and 1, both at layer 2, which runs no head: they join there.
        while (host.NextLayer < 2)
        {
            host.Step();
        }

        while (joining.NextLayer < 2)
        {
            joining.Step();
        }

        Assert.True(host.TryJoin(joining));
        // Block 2; then block 3 and the first part of the head at exit 3, for the host's rows and the guest's.
        host.Step();
        host.Step();
        Assert.Equal(3, host.NextLayer);
        Assert.True(host.StepsUntil(3) > 0, "the head at exit 3 is under way");

        joining.Dispose();

        Assert.Equal(InferenceErrorKind.Canceled, Assert.Single(answers.Values).ErrorKind);
        while (!host.Step())
        {
        }

        Answers.AssertClose(alone, host.Results, "host after its guest left mid-head");
    }

    [Fact]
    public void WarmUp_FlowMatchingWithoutTheOption_SizesStepsToAboutOneLayer_AndTheOptionWins()
    {
        using var auto = A1Engine.Load(models.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4, MaxBatchesInFlight = 1, IntraOpThreads = 1 });
        using var fixedSize = Load(expertLayersPerStep: 2);
        using var mlp = A1Engine.Load(models.TinyMlpDirectory, new EngineOptions { MaxBatchSize = 4, MaxBatchesInFlight = 1, IntraOpThreads = 1 });
        Assert.Equal(0, auto.ExpertLayersPerStep);

        var parts = auto.WarmUp();
        fixedSize.WarmUp();
        mlp.WarmUp();

        Assert.InRange(auto.ExpertLayersPerStep, 1, Math.Clamp((int)Math.Floor(parts.LanguageModelLayerMs / parts.ExpertLayerMs), 1, auto.Layers));
        Assert.Equal(2, fixedSize.ExpertLayersPerStep);
        Assert.Equal(0, mlp.ExpertLayersPerStep);
    }

    [Fact]
    public void Load_NegativeExpertLayersPerStep_IsRefusedNamingTheOption()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Load(expertLayersPerStep: -1));

        Assert.Contains("ExpertLayersPerStep -1", error.Message, StringComparison.Ordinal);
    }

    private A1Engine Load(int expertLayersPerStep) =>
        A1Engine.Load(models.TinyFmDirectory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1, ExpertLayersPerStep = expertLayersPerStep });

    /// <summary>Early-exit rows (warm-started, some agreeing early, one capped) and full-depth rows with one and two denoising steps.</summary>
    private static List<InferenceRequest> MixedRequests(A1Engine engine)
    {
        var samples = ReferenceModelsFixture.Samples(engine);
        var mid = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.4-cosine");
        return
        [
            .. Enumerable.Range(0, 3).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, mid, seed: (ulong)(i + 1))),
            Requests.From(samples[3], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: 11),
            Requests.From(samples[4], DecodeSettings.EarlyExitWarmK2, mid, seed: 12, maxLayer: engine.ExitLayers[1]),
            Requests.From(samples[5], DecodeSettings.FullDepthK10 with { DenoisingSteps = 1 }, seed: 13),
            Requests.From(samples[6], DecodeSettings.FullDepthK10 with { DenoisingSteps = 2 }, seed: 14),
        ];
    }
}
