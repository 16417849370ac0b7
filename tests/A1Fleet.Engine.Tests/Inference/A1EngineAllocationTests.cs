using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests.Inference;

[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineAllocationTests(ReferenceModelsFixture models)
{
    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void Run_SteadyState_ManagedAllocationDoesNotGrowWithLayersRun(string head)
    {
        var engine = head == "fm" ? models.TinyFm : models.TinyMlp;
        var samples = ReferenceModelsFixture.Samples(engine).Take(4).ToList();
        var shallow = samples.Select(s => Requests.From(s, DecodeSettings.EarlyExitWarmK2, Requests.Always(engine))).ToList();
        var deep = samples.Select(s => Requests.From(s, DecodeSettings.EarlyExitWarmK2, Requests.Never(engine))).ToList();

        // First runs create the OrtValue views and bindings for this batch size; they are kept.
        engine.Run(shallow);
        engine.Run(deep);

        var shallowBytes = Allocated(() => engine.Run(shallow));
        var deepBytes = Allocated(() => engine.Run(deep));
        var deepResult = engine.Run(deep)[0];
        var shallowResult = engine.Run(shallow)[0];
        Assert.True(deepResult.LayersRun > shallowResult.LayersRun + 2);
        Assert.True(deepResult.HeadCalls > shallowResult.HeadCalls);

        // Per-request results are allowed; per-layer or per-head-call garbage is not.
        Assert.True(deepBytes - shallowBytes < 512, $"deep batch allocated {deepBytes} B, shallow {shallowBytes} B");
        Assert.True(deepBytes < 4 * 2048, $"a batch of 4 allocated {deepBytes} B");
    }

    /// <summary>
    /// The least of three runs: garbage made per layer or per head call comes back every run, while a one-off lazy
    /// initialisation on this thread does not (once in a full CI run, with the other test collections running beside this
    /// one, one measured deep batch of the MLP model allocated 6,016 B against 1,272 B for the shallow one; this test had
    /// passed in every CI run before and in isolation).
    /// </summary>
    private static long Allocated(Action action)
    {
        var least = long.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
