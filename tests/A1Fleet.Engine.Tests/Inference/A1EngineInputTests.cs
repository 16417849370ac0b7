using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Inference;

[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineInputTests(ReferenceModelsFixture models)
{
    public static TheoryData<string, string> BadRequests => new()
    {
        { "image-size", "image has" },
        { "camera-count", "camera image(s)" },
        { "state-length", "state has" },
        { "state-nan", "must be finite" },
        { "state-inf", "must be finite" },
        { "empty-instruction", "instruction is empty" },
        { "punctuation-instruction", "instruction is empty" },
        { "long-instruction", "more than" },
        { "zero-steps", "denoising steps" },
        { "negative-cap", "max layer" },
        { "no-thresholds", "needs a threshold set" },
        { "foreign-thresholds", "calibrated for model" },
        { "metric-mismatch", "differs from" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Run_BadRequestInBatch_FailsAloneAndTheRestMatchTheirSoloResults(string kind, string expectedMessage)
    {
        var engine = models.TinyFm;
        var samples = ReferenceModelsFixture.Samples(engine);
        var good = ReferencePackagesThresholds(engine);
        var bad = Corrupt(kind, samples[2], engine, good);
        var requests = new[]
        {
            Requests.From(samples[0], DecodeSettings.EarlyExitWarmK2, good, seed: 1),
            bad,
            Requests.From(samples[1], DecodeSettings.FullDepthK10, seed: 2),
        };

        var results = engine.Run(requests);

        Assert.Equal(InferenceErrorKind.InvalidInput, results[1].ErrorKind);
        Assert.Contains(expectedMessage, results[1].Error, StringComparison.Ordinal);
        Assert.True(results[0].Succeeded, results[0].Error);
        Assert.True(results[2].Succeeded, results[2].Error);
        Assert.Equal(engine.Run([requests[0]])[0].Actions, results[0].Actions);
        Assert.Equal(engine.Run([requests[2]])[0].Actions, results[2].Actions);
    }

    [Fact]
    public void Run_UnknownModel_EveryRequestFailsWithUnknownModel()
    {
        using var catalog = new ModelCatalog();
        var results = catalog.Run("no-such-model", [Requests.From(ReferenceModelsFixture.Samples(models.TinyFm)[0], DecodeSettings.FullDepthK10)]);
        Assert.Equal(InferenceErrorKind.UnknownModel, results[0].ErrorKind);
        Assert.Contains("no-such-model", results[0].Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelCatalog_KnownModel_RunsThroughTheEngine()
    {
        using var catalog = new ModelCatalog();
        catalog.Add(models.TinyMlpDirectory, new EngineOptions { MaxBatchSize = 2 });
        var results = catalog.Run(models.TinyMlp.ModelId, [Requests.From(ReferenceModelsFixture.Samples(models.TinyMlp)[0], DecodeSettings.FullDepthK10)]);
        Assert.True(results[0].Succeeded, results[0].Error);
        Assert.Throws<ModelPackageException>(() => catalog.Add(models.TinyMlpDirectory));
    }

    [Fact]
    public void Run_Canceled_ThrowsAndTheEngineServesTheNextBatch()
    {
        var engine = models.TinyFm;
        var request = Requests.From(ReferenceModelsFixture.Samples(engine)[0], DecodeSettings.FullDepthK10);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => engine.Run([request], cancellationToken: cts.Token));
        Assert.True(engine.Run([request])[0].Succeeded);
    }

    [Fact]
    public void Run_CanceledWhileRowsAreStillRunning_TheNextBatchIsNotCanceled()
    {
        var engine = models.TinyFm;
        var samples = ReferenceModelsFixture.Samples(engine);
        // One row is capped at the first exit (its callback cancels), the other would run every layer.
        var early = Requests.From(samples[0], DecodeSettings.FullDepthK10) with { MaxLayer = engine.Package.ExitLayers[0] };
        var deep = Requests.From(samples[1], DecodeSettings.FullDepthK10);
        using var cts = new CancellationTokenSource();
        var heardFirst = new List<InferenceResult>();
        Assert.ThrowsAny<OperationCanceledException>(() => engine.Run([early, deep], onResult: (_, result) =>
        {
            heardFirst.Add(result);
            cts.Cancel();
        }, cancellationToken: cts.Token));
        Assert.Equal(2, heardFirst.Count);
        Assert.True(heardFirst[0].Succeeded, heardFirst[0].Error);
        Assert.Equal(InferenceErrorKind.Canceled, heardFirst[1].ErrorKind);

        var heard = 0;
        var results = engine.Run([early, deep], onResult: (_, _) => heard++);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        Assert.Equal(2, heard);
    }

    private static A1Fleet.EarlyExit.ThresholdSet ReferencePackagesThresholds(A1Engine engine) =>
        A1Fleet.ModelBuilder.Packaging.ReferencePackages.LoadThresholds(engine.Package, "exp-r0.7-cosine");

    private static InferenceRequest Corrupt(string kind, ObservationSample s, A1Engine engine, A1Fleet.EarlyExit.ThresholdSet good)
    {
        var request = Requests.From(s, DecodeSettings.EarlyExitWarmK2, good);
        return kind switch
        {
            "image-size" => request with { Images = [s.Images[0][..^3]] },
            "camera-count" => request with { Images = [s.Images[0], s.Images[0]] },
            "state-length" => request with { State = s.State[..^1] },
            "state-nan" => request with { State = s.State.Select((v, i) => i == 1 ? float.NaN : v).ToArray() },
            "state-inf" => request with { State = s.State.Select((v, i) => i == 0 ? float.PositiveInfinity : v).ToArray() },
            "empty-instruction" => request with { Instruction = "   " },
            "punctuation-instruction" => request with { Instruction = "?!." },
            "long-instruction" => request with { Instruction = string.Join(' ', Enumerable.Repeat("pick", engine.Manifest.Tokenizer.MaxTokens + 1)) },
            "zero-steps" => request with { Decode = DecodeSettings.EarlyExitWarmK2 with { DenoisingSteps = 0 } },
            "negative-cap" => request with { MaxLayer = -1 },
            "no-thresholds" => request with { Thresholds = null },
            "foreign-thresholds" => request with { Thresholds = good with { ModelId = "other-model" } },
            "metric-mismatch" => request with { Metric = A1Fleet.EarlyExit.DiscrepancyMetric.Max },
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }
}
