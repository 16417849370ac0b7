using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.Engine.Preprocessing;
using A1Fleet.ModelFormat;
using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Tests.Training;

/// <summary>
/// Train (smoke) and export a model with training/a1fleet_train, then hold the engine to PyTorch on the
/// same inputs and noise: every exported graph on the tensors PyTorch saw, and whole requests (full
/// depth and early exit, warm and cold) through the engine against the engine's algorithm written in
/// PyTorch (a1fleet_train.reference). Writes the largest difference to artifacts/bench/parity.json.
/// </summary>
public sealed class TorchParityTests : IDisposable
{
    private const double Tolerance = 1e-4;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly string _work = Path.Combine(Path.GetTempPath(), "a1fleet-parity-" + Guid.NewGuid().ToString("N"));

    [TorchFact]
    public void Run_SmokeTrainedExports_MatchPyTorchPerPartAndEndToEnd()
    {
        Directory.CreateDirectory(_work);
        var data = Path.Combine(_work, "data");
        TrainingPython.Run("-m", "a1fleet_train.synthetic", "--out", data, "--episodes", "10", "--frames", "8", "--size", "32");
        var report = new JsonObject();
        double worstPart = 0, worstAction = 0;
        var requests = 0;
        foreach (var head in new[] { "mlp", "fm" })
        {
            var (part, action, count) = CheckHead(data, head);
            report[$"per_part_max_abs_diff_{head}"] = part;
            report[$"actions_max_abs_diff_{head}"] = action;
            worstPart = Math.Max(worstPart, part);
            worstAction = Math.Max(worstAction, action);
            requests += count;
        }

        report["torch_vs_engine_max_abs_diff"] = Math.Max(worstPart, worstAction);
        report["per_part_max_abs_diff"] = worstPart;
        report["actions_max_abs_diff"] = worstAction;
        report["exit_layers_identical"] = true;
        report["requests"] = requests;
        report["tolerance"] = Tolerance;
        report["source"] = "tests/A1Fleet.Engine.Tests/Training/TorchParityTests.cs (smoke-trained mlp and fm packages)";
        var path = Path.Combine(TrainingPython.RepositoryRoot, "artifacts", "bench", "parity.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private (double Part, double Action, int Requests) CheckHead(string data, string head)
    {
        var run = Path.Combine(_work, head);
        TrainingPython.Run("-m", "a1fleet_train.train", "--data", data, "--preset", "smoke", "--head", head, "--seed", "5",
            "--steps", "12", "--samples", "6", "--out", run);
        var package = Path.Combine(run, "package");
        using var engine = A1Engine.Load(package, new EngineOptions { MaxBatchSize = 8, IntraOpThreads = 1 });
        var samples = engine.Package.LoadSamples();
        Assert.Equal(6, samples.Count);

        // Thresholds between recorded discrepancies (never on one), so about half the requests exit
        // at each exit and a tie cannot flip a decision.
        var fm = engine.IsFlowMatching;
        var warm = new DecodeSettings(ExitMode.EarlyExit, 2, WarmStart: true);
        var recorded = engine.Run(samples.Select((s, i) => Requests.From(s, warm, null, (ulong)(100 + i)) with { RecordDiscrepancies = true }).ToList());
        var thresholds = Requests.Uniform(engine, double.PositiveInfinity);
        for (var e = 0; e < engine.ExitLayers.Count - 1; e++)
        {
            var sorted = recorded.Select(r => r.Discrepancies![e]).Order().ToArray();
            thresholds.Thresholds[e] = (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        }

        var decodes = fm
            ? new[] { DecodeSettings.FullDepthK10, warm, DecodeSettings.EarlyExitColdK2, DecodeSettings.EarlyExitColdK10 }
            : new[] { new DecodeSettings(ExitMode.FullDepth, 1, false), warm };
        var cases = (from d in decodes from i in Enumerable.Range(0, samples.Count) select (Decode: d, Sample: i, Seed: (ulong)(100 + i))).ToList();
        var requestFile = Path.Combine(run, "requests.json");
        File.WriteAllText(requestFile, JsonSerializer.Serialize(new
        {
            requests = cases.Select(c => new
            {
                sample = c.Sample,
                earlyExit = c.Decode.Mode == ExitMode.EarlyExit,
                steps = c.Decode.DenoisingSteps,
                warm = c.Decode.WarmStart,
                seed = c.Seed,
                thresholds = thresholds.Thresholds.Select(t => t.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
                metric = thresholds.Metric,
            }),
        }));
        var outputFile = Path.Combine(run, "torch.json");
        TrainingPython.Run("-m", "a1fleet_train.parity", "--checkpoint", Path.Combine(run, "checkpoint.pt"), "--package", package,
            "--requests", requestFile, "--out", outputFile);
        var torch = JsonSerializer.Deserialize<TorchOutput>(File.ReadAllText(outputFile), Json)!;

        var noise = new float[torch.Noise.Values.Length];
        GaussianNoise.Fill(noise, torch.Noise.Seed, torch.Noise.Layer);
        Assert.Equal(torch.Noise.Values, noise);

        var worstPart = 0.0;
        Assert.Equal(fm ? (2 * engine.Layers) + 3 : (2 * engine.Layers) + 1, torch.Parts.Count);
        foreach (var part in torch.Parts)
        {
            worstPart = Math.Max(worstPart, RunPart(Path.Combine(package, part.File), part));
        }

        var actual = engine.Run(cases.Select(c => Requests.From(samples[c.Sample], c.Decode, c.Decode.Mode == ExitMode.EarlyExit ? thresholds : null, c.Seed)).ToList());
        var worstAction = 0.0;
        var exits = new HashSet<int>();
        for (var i = 0; i < cases.Count; i++)
        {
            var (e, t) = (actual[i], torch.Results[i]);
            Assert.True(e.Succeeded, e.Error);
            Assert.Equal(t.ExitLayer, e.ExitLayer);
            Assert.Equal(t.HeadCalls, e.HeadCalls);
            Assert.Equal(t.Actions.Length, e.Actions.Length);
            worstAction = Math.Max(worstAction, MaxAbsDiff(t.Actions, e.Actions));
            exits.Add(e.ExitLayer);
        }

        Assert.True(worstPart <= Tolerance, $"{head}: a graph differs from PyTorch by {worstPart:G3}");
        Assert.True(worstAction <= Tolerance, $"{head}: actions differ from PyTorch by {worstAction:G3}");
        // The thresholds split the requests, so more than one exit layer was compared.
        Assert.True(exits.Count > 1, $"{head}: every request exited at {string.Join(", ", exits)}");
        return (worstPart, worstAction, cases.Count);
    }

    private static double RunPart(string path, PartCase part)
    {
        using var session = new InferenceSession(path);
        var names = part.Inputs.Keys.ToList();
        // token_ids is the one int64 input of the format.
        var values = names.Select(n => n == "token_ids"
            ? OrtValue.CreateTensorValueFromMemory(part.Inputs[n].Data.Select(x => (long)x).ToArray(), part.Inputs[n].Shape)
            : OrtValue.CreateTensorValueFromMemory(part.Inputs[n].Data, part.Inputs[n].Shape)).ToList();
        try
        {
            using var options = new RunOptions();
            var outputs = part.Outputs.Keys.ToList();
            using var results = session.Run(options, names, values, outputs);
            var worst = 0.0;
            foreach (var (name, value) in outputs.Zip(results))
            {
                var expected = part.Outputs[name];
                Assert.Equal(expected.Shape, value.GetTensorTypeAndShape().Shape);
                worst = Math.Max(worst, MaxAbsDiff(expected.Data, value.GetTensorDataAsSpan<float>().ToArray()));
            }

            return worst;
        }
        finally
        {
            values.ForEach(v => v.Dispose());
        }
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        var worst = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        }

        return worst;
    }

    public void Dispose()
    {
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private sealed record TensorJson(long[] Shape, float[] Data);

    private sealed record PartCase(string File, Dictionary<string, TensorJson> Inputs, Dictionary<string, TensorJson> Outputs);

    private sealed record TorchResult(int ExitLayer, int HeadCalls, float[] Actions);

    private sealed record NoiseJson(ulong Seed, int Layer, float[] Values);

    private sealed record TorchOutput(List<PartCase> Parts, List<TorchResult> Results, NoiseJson Noise);
}
