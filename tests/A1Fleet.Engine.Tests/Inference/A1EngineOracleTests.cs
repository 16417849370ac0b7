using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Oracle;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.Engine.Tests.Inference;

[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineOracleTests(ReferenceModelsFixture models)
{
    public static TheoryData<string, string, string, int?> Cases => new()
    {
        { "tiny-fm", "full-k10", "none", null },
        { "tiny-fm", "full-k10", "none", 3 },
        { "tiny-fm", "exit-warm-k2", "never", null },
        { "tiny-fm", "exit-warm-k2", "always", null },
        { "tiny-fm", "exit-cold-k2", "never", null },
        { "tiny-fm", "exit-cold-k10", "never", 4 },
        { "tiny-mlp", "full-k10", "none", null },
        { "tiny-mlp", "exit-warm-k2", "never", null },
        { "tiny-mlp", "exit-warm-k2", "always", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_MatchesThePlainOraclePipeline(string preset, string mode, string thresholds, int? maxLayer)
    {
        var engine = preset == "tiny-fm" ? models.TinyFm : models.TinyMlp;
        var oracle = new ReferenceOracle(ReferenceWeights.Generate(ReferenceModelPresets.Get(preset)));
        var pipeline = new OraclePipeline(oracle, engine.Manifest);
        var decode = DecodeSettings.Of(Decodings.Parse(mode));
        var set = thresholds switch
        {
            "never" => Requests.Never(engine),
            "always" => Requests.Always(engine),
            _ => null,
        };

        foreach (var (sample, i) in ReferenceModelsFixture.Samples(engine).Take(3).Select((s, i) => (s, i)))
        {
            var seed = (ulong)(100 + i);
            var expected = pipeline.Run(sample, decode, set, seed, maxLayer);
            var actual = engine.Run([Requests.From(sample, decode, set, seed, maxLayer)])[0];
            Assert.True(actual.Succeeded, actual.Error);
            Assert.Equal(expected.ExitLayer, actual.ExitLayer);
            Assert.Equal(expected.HeadCalls, actual.HeadCalls);
            Assert.Equal(expected.DenoisingSteps, actual.DenoisingSteps);
            var action = engine.Manifest.Action;
            for (var j = 0; j < expected.Actions.Length; j++)
            {
                Assert.True(Math.Abs(expected.Actions[j] - actual.Actions[j]) <= 1e-3, $"sample {i} action {j}: oracle {expected.Actions[j]}, engine {actual.Actions[j]}");
            }
        }
    }
}
