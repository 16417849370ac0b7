using A1Fleet.Bench.Policy;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Tasks;

namespace A1Fleet.Bench.Tests.Policy;

/// <summary><c>policy-episodes --max-layer</c>: every request stops at the exit the cap snaps to; a cap past the model is refused.
/// <c>--decoding</c>: an FM's early-exit chain runs to the last exit; an MLP package is refused.</summary>
public sealed class PolicyEpisodesCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"a1-policy-episodes-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void EnginePolicy_MaxLayer_EveryRequestExitsAtTheSnappedExit()
    {
        var package = ReferencePackages.Ensure("tiny-mlp", Path.Combine(_root, "models"));
        using var engine = A1Engine.Load(package, new EngineOptions { MaxBatchSize = 4 });
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var spec = PolicyBenchmark.SpecOf(engine);
        var cap = engine.ExitLayers[1];
        var policy = new EnginePolicy(engine, spec, profile.JointCount, new DecodeSettings(ExitMode.FullDepth, 1, false), null, 1000, maxLayer: cap + 1);

        new TabletopEpisodeRunner(profile, spec, 1).Run(PolicyBenchmark.FirstEvaluationSeed, policy);

        Assert.NotEmpty(policy.Results);
        Assert.True(cap + 1 < engine.ExitLayers[2], "the cap must fall between two exits for the snap to show");
        Assert.All(policy.Results, r => Assert.Equal(cap, r.ExitLayer));
        // An MLP head at exit l reads the stream entering block l: l blocks ran.
        Assert.All(policy.Results, r => Assert.Equal(cap, r.LayersRun));
    }

    [Fact]
    public void EnginePolicy_EarlyExitDecodingWithoutThresholds_RunsTheWholeChainToTheLastExit()
    {
        var package = ReferencePackages.Ensure("tiny-fm", Path.Combine(_root, "models"));
        using var engine = A1Engine.Load(package, new EngineOptions { MaxBatchSize = 4 });
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var spec = PolicyBenchmark.SpecOf(engine);
        var policy = new EnginePolicy(engine, spec, profile.JointCount, DecodeSettings.EarlyExitWarmK2, null, 1000);

        new TabletopEpisodeRunner(profile, spec, 1).Run(PolicyBenchmark.FirstEvaluationSeed, policy);

        Assert.NotEmpty(policy.Results);
        Assert.All(policy.Results, r => Assert.Equal(engine.ExitLayers[^1], r.ExitLayer));
        // The head ran at every exit and at the reference before the first; one discrepancy per exit (the first's
        // against the reference), none of them ending the request.
        Assert.All(policy.Results, r => Assert.Equal(engine.ExitLayers.Count + 1, r.HeadCalls));
        Assert.All(policy.Results, r => Assert.Equal(engine.ExitLayers.Count, r.Discrepancies!.Length));
    }

    [Theory]
    [InlineData("--max-layer", "99", "has LM layers 0..")]
    [InlineData("--decoding", "exit-cold-k2", "MLP head")]
    public void Run_OptionTheMlpPackageCannotTake_ExitsTwoNamingIt(string option, string value, string why)
    {
        var package = ReferencePackages.Ensure("tiny-mlp", Path.Combine(_root, "models"));
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(BenchCommandLine.Usage, PolicyEpisodesCommand.Run(["--package", package, "--episodes", "1", option, value]));
        }
        finally
        {
            Console.SetError(previous);
        }

        Assert.Contains($"{option} {value}", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(why, error.ToString(), StringComparison.Ordinal);
    }
}
