using System.Globalization;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Demo;

/// <summary>
/// The main job until the fleet lands: runs the shipped reference model on a batch of held-out
/// sample observations with A1's default decoding (early exit, warm-started K = 2) and with full
/// depth K = 10, and prints what each request cost.
/// </summary>
internal static class EngineDemo
{
    public static Task<int> RunAsync(string[] args)
    {
        var preset = Option(args, "--model") ?? "small-fm";
        var batch = int.Parse(Option(args, "--batch") ?? "8", CultureInfo.InvariantCulture);
        var r = Option(args, "--r") ?? "0.7";
        var modelsRoot = Option(args, "--models") ?? Path.Combine("artifacts", "models");

        Console.WriteLine($"A1Fleet engine demo: model {preset}, batch {batch}, thresholds exp r={r}");
        var directory = ReferencePackages.Ensure(preset, modelsRoot, Console.Out);
        using var engine = A1Engine.Load(directory, new EngineOptions { MaxBatchSize = Math.Max(batch, 1) });
        var thresholds = ReferencePackages.LoadThresholds(engine.Package, $"exp-r{r}-cosine");
        // Spread over the held-out episodes rather than the first frames of one.
        var heldOut = ReferencePackages.HeldOut(engine.Package);
        var stride = Math.Max(1, heldOut.Count / Math.Max(batch, 1));
        var samples = heldOut.Where((_, i) => i % stride == 0).Take(batch).ToList();
        if (samples.Count == 0)
        {
            Console.Error.WriteLine("the model package has no held-out samples");
            return Task.FromResult(1);
        }

        // The A1 default; an MLP head ignores the step count.
        var profile = DecodeSettings.EarlyExitWarmK2;
        var early = samples.Select((s, i) => Request(s, profile, thresholds, (ulong)i)).ToList();
        var full = samples.Select((s, i) => Request(s, DecodeSettings.FullDepthK10, null, (ulong)i)).ToList();

        engine.Run(early.Take(1).ToList()); // warm-up: first runs pay for ONNX Runtime's lazy initialisation
        engine.Run(full.Take(1).ToList());
        var earlyStats = new BatchStatistics();
        var fullStats = new BatchStatistics();
        var earlyResults = engine.Run(early, statistics: earlyStats);
        var fullResults = engine.Run(full, statistics: fullStats);

        Console.WriteLine();
        Console.WriteLine($"{"#",2}  {"instruction",-34} {"exit",4} {"layers",6} {"heads",5} {"steps",5} {"ms",7}   | full-depth {"layers",6} {"steps",5} {"ms",7}");
        for (var i = 0; i < samples.Count; i++)
        {
            var e = earlyResults[i];
            var f = fullResults[i];
            var text = samples[i].Instruction.Length > 34 ? samples[i].Instruction[..31] + "..." : samples[i].Instruction;
            Console.WriteLine(e.Succeeded
                ? $"{i,2}  {text,-34} {e.ExitLayer,4} {e.LayersRun,6} {e.HeadCalls,5} {e.DenoisingSteps,5} {e.TotalMs,7:F1}   |            {f.LayersRun,6} {f.DenoisingSteps,5} {f.TotalMs,7:F1}"
                : $"{i,2}  {text,-34} error: {e.Error}");
        }

        var ok = earlyResults.Where(x => x.Succeeded).ToList();
        Console.WriteLine();
        Console.WriteLine($"early exit (warm K=2, exp r={r}): batch {earlyStats.TotalMs:F1} ms, mean exit layer {ok.Average(x => x.ExitLayer):F2}, " +
                          $"LM layers run {100.0 * ok.Average(x => x.LayersRun) / engine.Layers:F1}%");
        Console.WriteLine($"full depth (K=10):                batch {fullStats.TotalMs:F1} ms");
        Console.WriteLine($"latency ratio early/full: {earlyStats.TotalMs / fullStats.TotalMs:F2}");
        Console.WriteLine($"first chunk step of request 0 (robot units): [{string.Join(", ", earlyResults[0].Actions.Take(earlyResults[0].ActionDim).Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))}]");
        return Task.FromResult(0);
    }

    private static InferenceRequest Request(A1Fleet.ModelFormat.ObservationSample s, DecodeSettings decode, ThresholdSet? thresholds, ulong seed) => new()
    {
        Instruction = s.Instruction,
        State = s.State,
        Images = s.Images,
        Decode = decode,
        Thresholds = thresholds,
        Seed = seed,
    };

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
