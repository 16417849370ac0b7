using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// Two batches at the same layer join (<see cref="ISteppedBatch.TryJoin"/>): the rows of the second run in the first's
/// steps from then on and answer through their own batch, each as it would have run alone.
/// </summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineJoinTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void TryJoin_AtTheSameLayer_EveryRowAnswersAsItsOwnBatchWouldThroughItsOwnBatch(string head)
    {
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var (first, second) = EarlyExitBatches(engine);
        var alone = (first: engine.Run(first), second: engine.Run(second));
        var answered = (first: new List<int>(), second: new List<int>());
        var firstStats = new BatchStatistics();
        var secondStats = new BatchStatistics();
        using var host = engine.Begin(first, firstStats, (i, _) => answered.first.Add(i));
        using var joining = engine.Begin(second, secondStats, (i, _) => answered.second.Add(i));

        host.Step();
        host.Step();
        joining.Step();
        Assert.False(host.TryJoin(joining), "the second batch is a layer behind");
        joining.Step();
        Assert.Equal(host.NextLayer, joining.NextLayer);

        Assert.True(host.TryJoin(joining));

        Assert.Equal(first.Count + second.Count, host.Rows);
        Assert.Equal(0, joining.Rows);
        Assert.False(joining.IsCompleted);
        Assert.False(joining.Step(), "a joined batch runs no step of its own");
        while (!host.Step())
        {
        }

        Assert.True(joining.IsCompleted);
        Assert.Equal(first.Count, answered.first.Distinct().Count());
        Assert.Equal(second.Count, answered.second.Distinct().Count());
        Answers.AssertClose(alone.first, host.Results, "host");
        Answers.AssertClose(alone.second, joining.Results, "joined");
        Assert.True(firstStats.Joined && secondStats.Joined);
        Assert.Equal(first.Count, firstStats.Requests);
        Assert.Equal(second.Count, secondStats.Requests);
    }

    [Fact]
    public void TryJoin_BeforeThePrefixFullDepthRowsOrTooManyRows_IsRefusedAndChangesNothing()
    {
        var engine = models.TinyFm;
        var (first, second) = EarlyExitBatches(engine);
        var samples = ReferenceModelsFixture.Samples(engine);
        using (var host = engine.Begin(first))
        using (var other = engine.Begin(second))
        {
            Assert.False(host.TryJoin(other), "neither has run its prefix");
            Assert.False(host.TryJoin(host), "a batch cannot join itself");
        }

        List<InferenceRequest> fullDepth = [Requests.From(samples[0], DecodeSettings.FullDepthK10, seed: 9)];
        using (var host = engine.Begin(first))
        using (var deep = engine.Begin(fullDepth))
        {
            host.Step();
            deep.Step();
            Assert.False(host.TryJoin(deep), "a full-depth row keeps its place by final layer");
            Assert.Equal(first.Count, host.Rows);
            Assert.Equal(fullDepth.Count, deep.Rows);
        }

        // A batch that has taken others in joins no other itself (their rows would lose their host); it can take more.
        using (var host = engine.Begin(first[..1]))
        using (var guest = engine.Begin(first[1..2]))
        using (var third = engine.Begin(second[..1]))
        {
            host.Step();
            guest.Step();
            third.Step();
            Assert.True(host.TryJoin(guest));
            Assert.True(host.HasGuests);
            Assert.False(third.TryJoin(host), "a host joined into another");
            Assert.True(host.TryJoin(third));
            while (!host.Step())
            {
            }

            Assert.True(guest.IsCompleted && third.IsCompleted);
            Assert.False(host.HasGuests);
        }

        var many = Enumerable.Range(0, engine.MaxBatchSize - first.Count + 1)
            .Select(i => Requests.From(samples[i % samples.Count], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: (ulong)i)).ToList();
        using (var host = engine.Begin(first))
        using (var large = engine.Begin(many))
        {
            host.Step();
            large.Step();
            Assert.False(host.TryJoin(large), "together past the largest batch");
            while (!large.Step())
            {
            }

            Assert.All(large.Results, r => Assert.True(r.Succeeded, r.Error));
        }
    }

    [Fact]
    public void Dispose_JoinedBatchBeforeItsRowsFinished_AnswersThemCanceledAndTheHostGoesOnWithoutThem()
    {
        var engine = models.TinyFm;
        var (first, second) = EarlyExitBatches(engine);
        var alone = engine.Run(first);
        var answers = new Dictionary<int, InferenceResult>();
        using var host = engine.Begin(first);
        var joining = engine.Begin(second, onResult: (i, r) => answers[i] = r);
        host.Step();
        joining.Step();
        Assert.True(host.TryJoin(joining));

        joining.Dispose();

        Assert.Equal(second.Count, answers.Count);
        Assert.All(answers.Values, r => Assert.Equal(InferenceErrorKind.Canceled, r.ErrorKind));
        Assert.Equal(first.Count, host.Rows);
        while (!host.Step())
        {
        }

        Answers.AssertClose(alone, host.Results, "host after the joined batch left");
        Assert.Equal(1, engine.BatchesInFlight);
    }

    /// <summary>Two batches whose rows all decide by the exit test, the second never exiting before its cap.</summary>
    private static (List<InferenceRequest> First, List<InferenceRequest> Second) EarlyExitBatches(A1Engine engine)
    {
        var samples = ReferenceModelsFixture.Samples(engine);
        var mid = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.4-cosine");
        return (
            [.. Enumerable.Range(0, 3).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, mid, seed: (ulong)(i + 1)))],
            [
                Requests.From(samples[3], DecodeSettings.EarlyExitWarmK2, Requests.Never(engine), seed: 11),
                Requests.From(samples[4], DecodeSettings.EarlyExitWarmK2, mid, seed: 12, maxLayer: engine.ExitLayers[1]),
            ]);
    }
}
