using System.Text.Json.Nodes;
using A1Fleet.Bench.Policy;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Tasks;

namespace A1Fleet.Bench.Tests.Policy;

public sealed class PolicyBenchmarkTests : IDisposable
{
    private static readonly string[] StableKeys =
    [
        "expert_success", "success_mlp_full", "success_mlp_r10", "success_mlp_r07", "success_mlp_r04", "success_mlp_r01",
        "layers_run_mlp_r10", "layers_run_mlp_r07", "layers_run_mlp_r04", "layers_run_mlp_r01", "success_fm_full_k10", "success_fm_exit_cold_k10",
        "success_fm_exit_cold_k2", "success_fm_exit_warm_k2", "latency_ratio_fm_warm_k2_vs_full_k10", "torch_vs_engine_max_abs_diff", "episodes_per_config",
    ];

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"a1-policy-bench-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task RunAsync_TinyModelsTwoEpisodes_WritesEveryStableKeyWithMeasuredValues()
    {
        var models = Path.Combine(_root, "models");
        var mlp = ReferencePackages.Ensure("tiny-mlp", models);
        var fm = ReferencePackages.Ensure("tiny-fm", models);
        var parity = Path.Combine(_root, "parity.json");
        await File.WriteAllTextAsync(parity, """{ "torch_vs_engine_max_abs_diff": 2.5e-7 }""");
        var output = Path.Combine(_root, "bench");

        var rc = await PolicyBenchmark.RunAsync(PolicyArgs.Parse(["--mlp", mlp, "--fm", fm, "--episodes", "2", "--calibration-episodes", "2", "--out", output, "--parity", parity]));

        Assert.Equal(0, rc);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "policy.json")))!.AsObject();
        Assert.Equal(StableKeys, json.Select(kv => kv.Key));
        Assert.Equal(2, (int)json["episodes_per_config"]!);
        Assert.Equal(2.5e-7, (double)json["torch_vs_engine_max_abs_diff"]!);
        Assert.All(StableKeys.Where(k => k.StartsWith("success_", StringComparison.Ordinal) || k == "expert_success"), k => Assert.InRange((double)json[k]!, 0, 1));
        // Of the first two evaluation seeds the expert solves the second (the first puts the block beyond the push's reach);
        // early exit at r = 0.1 runs fewer layers than at r = 1.0, and both fewer than all.
        Assert.Equal(0.5, (double)json["expert_success"]!);
        Assert.InRange((double)json["layers_run_mlp_r01"]!, 0.01, (double)json["layers_run_mlp_r10"]!);
        Assert.InRange((double)json["layers_run_mlp_r10"]!, 0.01, 0.999);
        Assert.InRange((double)json["latency_ratio_fm_warm_k2_vs_full_k10"]!, 0.001, 100);
        var rows = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "policy-details.json")))!["rows"]!.AsArray();
        Assert.Equal(5 + 7, rows.Count);
        Assert.All(rows, r => Assert.True((int)r!["requests"]! >= 2, r!.ToJsonString()));
    }

    [Fact]
    public async Task RunAsync_NoParityFile_TorchDiffIsNull()
    {
        var models = Path.Combine(_root, "models");
        var output = Path.Combine(_root, "bench");

        await PolicyBenchmark.RunAsync(PolicyArgs.Parse(["--mlp", ReferencePackages.Ensure("tiny-mlp", models), "--fm", ReferencePackages.Ensure("tiny-fm", models),
            "--episodes", "1", "--calibration-episodes", "1", "--out", output, "--parity", Path.Combine(_root, "none.json")]));

        var json = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "policy.json")))!.AsObject();
        Assert.True(json.ContainsKey("torch_vs_engine_max_abs_diff"));
        Assert.Null(json["torch_vs_engine_max_abs_diff"]);
    }

    [Fact]
    public async Task CalibrateAsync_ForbidFirstExit_EverySetHasItsFirstExitOffAndNoRequestExitsThere()
    {
        using var engine = A1Engine.Load(ReferencePackages.Ensure("tiny-mlp", Path.Combine(_root, "models")), new EngineOptions { MaxBatchSize = 4 });
        var spec = PolicyBenchmark.SpecOf(engine);
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var decode = new DecodeSettings(ExitMode.EarlyExit, 1, false);

        var allowed = await PolicyBenchmark.CalibrateAsync(engine, spec, profile, decode, episodes: 1);
        var forbidden = await PolicyBenchmark.CalibrateAsync(engine, spec, profile, decode, episodes: 1, forbidFirstExit: true);

        // r = 0.1 sends most calibration frames to the first exit when it is allowed; forbidden, none go there.
        Assert.True(allowed[0.1].ExpectedExitShares[0] > 0.5, string.Join(", ", allowed[0.1].ExpectedExitShares));
        Assert.All(forbidden.Values, set =>
        {
            Assert.True(set.ForbidFirstExit);
            Assert.Equal(double.NegativeInfinity, set.Thresholds[0]);
            Assert.Equal(0, set.ExpectedExitShares[0]);
        });
        var policy = new EnginePolicy(engine, spec, profile.JointCount, decode, forbidden[0.1], executeSteps: 1000);
        new TabletopEpisodeRunner(profile, spec, 2).Run(PolicyBenchmark.FirstEvaluationSeed, policy);
        Assert.NotEmpty(policy.Results);
        Assert.All(policy.Results, r => Assert.NotEqual(engine.ExitLayers[0], r.ExitLayer));
    }

    [Fact]
    public void Evaluate_TinyMlpFullDepth_OneRequestPerChunkAndEveryLayerButTheLastRun()
    {
        var models = Path.Combine(_root, "models");
        using var engine = A1Engine.Load(ReferencePackages.Ensure("tiny-mlp", models), new EngineOptions { MaxBatchSize = 4 });
        var spec = PolicyBenchmark.SpecOf(engine);
        var profile = EmbodimentProfile.For(Embodiment.Franka);

        var m = PolicyBenchmark.Evaluate(engine, spec, profile, [PolicyBenchmark.FirstEvaluationSeed], new DecodeSettings(ExitMode.FullDepth, 1, false), null, executeSteps: 1000);

        // A random policy never succeeds, so the episode runs its full 8 s: one request per chunk of steps.
        Assert.Equal(0, m.Success);
        Assert.Equal(8.0, m.EpisodeSeconds);
        Assert.Equal((int)Math.Ceiling(8.0 * profile.ControlHz / spec.Chunk), m.Requests);
        // The MLP head at the last exit reads the stream entering the last block, which so never runs.
        Assert.Equal((engine.Layers - 1) / (double)engine.Layers, m.LayerShare, 9);
        Assert.Equal(engine.Layers - 1, m.MeanExitLayer);
    }
}
