using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Calibration;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Bench.Policy;

/// <summary>Command line of <c>policy</c>.</summary>
internal sealed record PolicyArgs(bool Quick, string? Mlp, string? Fm, int Episodes, int CalibrationEpisodes, int ExecuteSteps, string OutputDirectory, string ModelsRoot,
    string ParityFile, bool ForbidFirstExit = false)
{
    public const string DefaultMlp = "models/trained/franka-tabletop-mlp";
    public const string DefaultFm = "models/trained/franka-tabletop-fm";

    /// <summary>Episodes per configuration: enough to judge a 5-point difference near 80 % (docs/policy.md).</summary>
    public const int DefaultEpisodes = 300;

    public static PolicyArgs Parse(IReadOnlyList<string> args)
    {
        string? Value(string name)
        {
            var i = args.ToList().IndexOf(name);
            return i >= 0 && i + 1 < args.Count ? args[i + 1] : null;
        }

        var quick = args.Contains("--quick");
        return new PolicyArgs(quick, Value("--mlp"), Value("--fm"),
            Value("--episodes") is { } episodes ? int.Parse(episodes, CultureInfo.InvariantCulture) : quick ? 20 : DefaultEpisodes,
            int.Parse(Value("--calibration-episodes") ?? (quick ? "8" : "40"), CultureInfo.InvariantCulture),
            int.Parse(Value("--execute-steps") ?? "1000", CultureInfo.InvariantCulture),
            Value("--out") ?? Path.Combine("artifacts", "bench"),
            Value("--models-root") ?? Path.Combine("artifacts", "models"),
            Value("--parity") ?? Path.Combine("artifacts", "bench", "parity.json"),
            args.Contains("--forbid-first-exit"));
    }
}

/// <summary>
/// Closed-loop evaluation of a model package on the tabletop task family (issue 12): the policy runs through the
/// engine in the simulator, N fresh seeded episodes per configuration (seeds from <see cref="FirstEvaluationSeed"/>,
/// never used for training data), success decided by the world. Thresholds are calibrated with the calibration
/// library (<see cref="CalibrationRun"/>) on the training demonstrations: the scripted expert's episodes of the
/// training seeds 0.. re-recorded through the LeRobot recorder in the model's cameras and dims (runs are
/// deterministic from the seed, so these are the training data's episodes), every third frame.
/// </summary>
internal static class PolicyBenchmark
{
    /// <summary>Evaluation seeds start here; training data uses seeds from 0 (demonstrations --first-seed 0).</summary>
    public const int FirstEvaluationSeed = 1_000_000;

    private const int CalibrationFrameStride = 3;
    private static readonly double[] Rs = [1.0, 0.7, 0.4, 0.1];

    public static async Task<int> RunAsync(PolicyArgs args)
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var seeds = Enumerable.Range(FirstEvaluationSeed, args.Episodes).ToList();
        var stable = new JsonObject();
        var details = new JsonObject { ["episodes_per_config"] = args.Episodes, ["quick"] = args.Quick, ["first_evaluation_seed"] = FirstEvaluationSeed, ["forbid_first_exit"] = args.ForbidFirstExit,
            ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}", ["measured_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture) };

        var expertRunner = new TabletopEpisodeRunner(profile, TabletopEpisodeRunner.DemonstrationSpec(profile, TabletopDemonstrations.DatasetId, 64), TabletopDemonstrations.MaxEpisodeSeconds);
        var expert = seeds.Select(s => expertRunner.Run(s, new ScriptedExpert(profile))).ToList();
        var expertSuccess = expert.Count(r => r.Succeeded) / (double)expert.Count;
        Console.WriteLine($"policy benchmark: tabletop task family, {args.Episodes} episodes per configuration (seeds {FirstEvaluationSeed}..), " +
                          $"{TabletopDemonstrations.MaxEpisodeSeconds} s per episode at most{(args.Quick ? ", quick" : "")}");
        Console.WriteLine($"scripted expert: success {expertSuccess:P1}");
        stable["expert_success"] = Math.Round(expertSuccess, 4);

        var mlp = Resolve(args.Mlp, PolicyArgs.DefaultMlp, ReferenceModelPresets.TinyMlp, args.ModelsRoot);
        var fm = Resolve(args.Fm, PolicyArgs.DefaultFm, ReferenceModelPresets.TinyFm, args.ModelsRoot);
        var rows = new JsonArray();

        // MLP head: full depth, then early exit at each r.
        {
            using var engine = A1Engine.Load(mlp, new EngineOptions { MaxBatchSize = 16 });
            var spec = SpecOf(engine);
            Console.WriteLine();
            Console.WriteLine($"MLP head: {engine.ModelId} from {mlp} ({engine.Layers} LM layers, exits {string.Join(",", engine.ExitLayers)}, chunk {spec.Chunk})");
            var decode = new DecodeSettings(ExitMode.EarlyExit, engine.Manifest.Defaults.DenoisingSteps, engine.Manifest.Defaults.WarmStart);
            var sets = await CalibrateAsync(engine, spec, profile, decode, args.CalibrationEpisodes, args.ForbidFirstExit);
            WarmUp(engine, spec, profile, sets[1.0], args.ExecuteSteps);
            Header();
            var full = Evaluate(engine, spec, profile, seeds, new DecodeSettings(ExitMode.FullDepth, 1, false), null, args.ExecuteSteps);
            Row(rows, "mlp", "full", null, full, full);
            stable["success_mlp_full"] = Math.Round(full.Success, 4);
            foreach (var r in Rs)
            {
                var m = Evaluate(engine, spec, profile, seeds, decode, sets[r], args.ExecuteSteps);
                Row(rows, "mlp", "exit", r, m, full);
                var key = KeyOf(r);
                stable[$"success_mlp_{key}"] = Math.Round(m.Success, 4);
                stable[$"layers_run_mlp_{key}"] = Math.Round(m.LayerShare, 4);
            }
        }

        // FM head: full depth K=10, early exit cold K=10, cold K=2, warm K=2, each calibrated for its own decoding, at r = 1.0 and 0.4.
        {
            using var engine = A1Engine.Load(fm, new EngineOptions { MaxBatchSize = 16 });
            var spec = SpecOf(engine);
            Console.WriteLine();
            Console.WriteLine($"FM head: {engine.ModelId} from {fm} ({engine.Layers} LM layers, exits {string.Join(",", engine.ExitLayers)}, chunk {spec.Chunk})");
            var modes = new (string Key, DecodeSettings Decode)[] { ("exit_cold_k10", DecodeSettings.EarlyExitColdK10), ("exit_cold_k2", DecodeSettings.EarlyExitColdK2), ("exit_warm_k2", DecodeSettings.EarlyExitWarmK2) };
            var calibrated = new Dictionary<string, IReadOnlyDictionary<double, ThresholdSet>>();
            foreach (var (key, decode) in modes)
            {
                calibrated[key] = await CalibrateAsync(engine, spec, profile, decode, args.CalibrationEpisodes, args.ForbidFirstExit);
            }

            WarmUp(engine, spec, profile, calibrated["exit_warm_k2"][1.0], args.ExecuteSteps);
            Header();
            var full = Evaluate(engine, spec, profile, seeds, DecodeSettings.FullDepthK10, null, args.ExecuteSteps);
            Row(rows, "fm", "full_k10", null, full, full);
            stable["success_fm_full_k10"] = Math.Round(full.Success, 4);
            foreach (var r in new[] { 1.0, 0.4 })
            {
                foreach (var (key, decode) in modes)
                {
                    var m = Evaluate(engine, spec, profile, seeds, decode, calibrated[key][r], args.ExecuteSteps);
                    Row(rows, "fm", key, r, m, full);
                    if (r == 1.0)
                    {
                        stable[$"success_fm_{key}"] = Math.Round(m.Success, 4);
                        if (key == "exit_warm_k2")
                        {
                            stable["latency_ratio_fm_warm_k2_vs_full_k10"] = Math.Round(m.LatencyMs / full.LatencyMs, 4);
                        }
                    }
                }
            }
        }

        stable["torch_vs_engine_max_abs_diff"] = ParityDiff(args.ParityFile);
        stable["episodes_per_config"] = args.Episodes;
        details["mlp_package"] = mlp;
        details["fm_package"] = fm;
        details["rows"] = rows;

        Directory.CreateDirectory(args.OutputDirectory);
        var options = new JsonSerializerOptions { WriteIndented = true };
        var path = Path.Combine(args.OutputDirectory, "policy.json");
        File.WriteAllText(path, Ordered(stable).ToJsonString(options));
        File.WriteAllText(Path.Combine(args.OutputDirectory, "policy-details.json"), details.ToJsonString(options));
        Console.WriteLine();
        Console.WriteLine($"wrote {path} (and policy-details.json: every row)");
        return 0;
    }

    /// <summary>The stable keys in the documented order.</summary>
    private static JsonObject Ordered(JsonObject stable)
    {
        string[] order = ["expert_success", "success_mlp_full", "success_mlp_r10", "success_mlp_r07", "success_mlp_r04", "success_mlp_r01",
            "layers_run_mlp_r10", "layers_run_mlp_r07", "layers_run_mlp_r04", "layers_run_mlp_r01", "success_fm_full_k10", "success_fm_exit_cold_k10",
            "success_fm_exit_cold_k2", "success_fm_exit_warm_k2", "latency_ratio_fm_warm_k2_vs_full_k10", "torch_vs_engine_max_abs_diff", "episodes_per_config"];
        var json = new JsonObject();
        foreach (var key in order)
        {
            json[key] = stable[key]?.DeepClone();
        }

        return json;
    }

    private static string KeyOf(double r) => "r" + ((int)Math.Round(r * 10)).ToString("00", CultureInfo.InvariantCulture);

    /// <summary>The package given on the command line; else the trained one at its default place; else the tiny reference model.</summary>
    private static string Resolve(string? given, string trainedDefault, string referencePreset, string modelsRoot)
    {
        if (given is not null)
        {
            return Path.GetFullPath(given);
        }

        if (File.Exists(Path.Combine(trainedDefault, ModelPackage.ManifestFileName)))
        {
            return Path.GetFullPath(trainedDefault);
        }

        Console.WriteLine($"no trained package at {trainedDefault}: using the reference model '{referencePreset}' (random weights: expect little success)");
        return ReferencePackages.Ensure(referencePreset, modelsRoot, Console.Out);
    }

    private static double? ParityDiff(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["torch_vs_engine_max_abs_diff"]?.GetValue<double>();
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>What the fleet registers for a served model (ModelRegistrationStartup): the agent-facing spec.</summary>
    internal static ModelSpec SpecOf(A1Engine engine)
    {
        var m = engine.Manifest;
        return new ModelSpec(engine.ModelId, m.ModelVersion, m.State.Dim, engine.ValidActionDims, m.Action.Chunk,
            [.. m.Cameras.Select(c => new CameraInfo(c.Name, c.Height, c.Width))], m.State.Q01, m.State.Q99, m.LanguageModel.Layers, [.. m.Exits.Layers]);
    }

    /// <summary>
    /// Exp-family threshold sets at each r for <paramref name="decode"/>, calibrated with the calibration library on the
    /// training demonstrations recorded in the model's terms.
    /// </summary>
    internal static async Task<IReadOnlyDictionary<double, ThresholdSet>> CalibrateAsync(A1Engine engine, ModelSpec spec, EmbodimentProfile profile, DecodeSettings decode,
        int episodes, bool forbidFirstExit = false)
    {
        var root = Path.Combine(Path.GetTempPath(), $"a1-policy-calibration-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            string directory;
            await using (var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = root, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 }),
                             NullLogger<EpisodeRecorder>.Instance))
            {
                var solved = 0;
                for (var seed = 0; solved < episodes; seed++)
                {
                    solved += TabletopDemonstrations.Record(recorder, profile, spec, [seed]).Count(r => r.Succeeded);
                }

                directory = recorder.DatasetDirectory(spec.ModelId, profile.Embodiment);
            }

            var dataset = LeRobotDataset.Open(directory);
            var reader = new LeRobotDatasetReader(dataset, engine.Manifest, DatasetMapping.Default(engine.Manifest, dataset.Info));
            var read = await reader.ReadAllAsync();
            var samples = read.Samples.Where(s => s.Frame % CalibrationFrameStride == 0).ToList();
            var run = new CalibrationRun(new CalibrationSettings { Rs = Rs, Decode = decode, ForbidFirstExit = forbidFirstExit, Source = $"tabletop demonstrations, seeds from 0, {episodes} episodes, every {CalibrationFrameStride}rd frame" });
            var started = Stopwatch.GetTimestamp();
            var values = run.CollectValues(engine, samples);
            var sets = run.CalibrateSets(engine.Manifest, values);
            Console.WriteLine($"  calibrated {(engine.IsFlowMatching ? Describe(decode) : "early exit")}{(forbidFirstExit ? " (first exit forbidden)" : "")} on {samples.Count} frames of {episodes} demonstrations in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
            return sets.ToDictionary(s => s.R);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static string Describe(DecodeSettings d) =>
        d.Mode == ExitMode.FullDepth ? $"full depth K={d.DenoisingSteps}" : $"early exit {(d.WarmStart ? "warm" : "cold")} K={d.DenoisingSteps}";

    internal sealed record Measurement(double Success, double MeanExitLayer, double LayerShare, double ExpertLayerSteps, double LatencyMs, double EpisodeSeconds,
        double InferenceSecondsPerEpisode, int Requests);

    /// <summary>Runs every seed once with the configuration; means are over requests (layers, latency) or episodes (the rest).</summary>
    internal static Measurement Evaluate(A1Engine engine, ModelSpec spec, EmbodimentProfile profile, IReadOnlyList<int> seeds, DecodeSettings decode, ThresholdSet? thresholds,
        int executeSteps)
    {
        var runner = new TabletopEpisodeRunner(profile, spec, TabletopDemonstrations.MaxEpisodeSeconds);
        var results = new List<InferenceResult>();
        var successes = 0;
        var seconds = 0.0;
        foreach (var seed in seeds)
        {
            var policy = new EnginePolicy(engine, spec, profile.JointCount, decode, thresholds, executeSteps);
            var episode = runner.Run(seed, policy);
            successes += episode.Succeeded ? 1 : 0;
            seconds += episode.SimulatedSeconds;
            results.AddRange(policy.Results);
        }

        return new Measurement(successes / (double)seeds.Count, results.Average(r => r.ExitLayer), results.Average(r => r.LayersRun) / engine.Layers,
            results.Average(r => r.ExpertLayerSteps), results.Average(r => r.TotalMs), seconds / seeds.Count, results.Sum(r => r.TotalMs) / 1000 / seeds.Count, results.Count);
    }

    /// <summary>One untimed episode per decoding, so the first configuration measured does not pay for ONNX Runtime's first runs.</summary>
    private static void WarmUp(A1Engine engine, ModelSpec spec, EmbodimentProfile profile, ThresholdSet thresholds, int executeSteps)
    {
        foreach (var decode in new[] { DecodeSettings.FullDepthK10, DecodeSettings.EarlyExitWarmK2 })
        {
            Evaluate(engine, spec, profile, [FirstEvaluationSeed - 1], decode, decode.Mode == ExitMode.EarlyExit ? thresholds : null, executeSteps);
        }
    }

    private static void Header()
    {
        Console.WriteLine($"  {"config",-14} {"r",4} {"success",8} {"exit",6} {"layers",7} {"expert",7} {"ms/req",8} {"vs full",8} {"episode s",10} {"infer s/ep",11}");
    }

    private static void Row(JsonArray rows, string head, string config, double? r, Measurement m, Measurement full)
    {
        Console.WriteLine($"  {config,-14} {(r is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "-"),4} {m.Success,8:P1} {m.MeanExitLayer,6:F2} {m.LayerShare,7:P0} " +
                          $"{m.ExpertLayerSteps,7:F1} {m.LatencyMs,8:F2} {m.LatencyMs / full.LatencyMs,8:F3} {m.EpisodeSeconds,10:F2} {m.InferenceSecondsPerEpisode,11:F3}");
        rows.Add(new JsonObject
        {
            ["head"] = head,
            ["config"] = config,
            ["r"] = r,
            ["success"] = Math.Round(m.Success, 4),
            ["mean_exit_layer"] = Math.Round(m.MeanExitLayer, 3),
            ["lm_layer_share"] = Math.Round(m.LayerShare, 4),
            ["expert_layer_steps"] = Math.Round(m.ExpertLayerSteps, 2),
            ["latency_ms_per_request"] = Math.Round(m.LatencyMs, 3),
            ["latency_ratio_vs_full"] = Math.Round(m.LatencyMs / full.LatencyMs, 4),
            ["episode_seconds_simulated"] = Math.Round(m.EpisodeSeconds, 3),
            ["inference_seconds_per_episode"] = Math.Round(m.InferenceSecondsPerEpisode, 4),
            ["requests"] = m.Requests,
        });
    }
}
