using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Calibration;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;

namespace A1Fleet.Bench;

/// <summary>
/// Latency of the paper's decoding modes on a reference model, at batch 1 and a larger batch, with
/// thresholds calibrated per mode on the model's calibration episodes and measured on held-out ones.
/// </summary>
internal static class EngineBenchmark
{
    private static readonly double[] Rs = [1.0, 0.7, 0.4, 0.1];

    private sealed record Mode(string Key, DecodeSettings Decode);

    public static int Run(BenchArgs args)
    {
        var directory = ReferencePackages.Ensure(args.Model, args.ModelsRoot, Console.Out);
        using var engine = A1Engine.Load(directory, args.EngineOptions(Math.Max(args.Batch, 1)));
        var package = engine.Package;
        var calibration = ReferencePackages.Calibration(package).ToList();
        var heldOut = ReferencePackages.HeldOut(package).ToList();
        if (args.Quick)
        {
            calibration = calibration.Take(48).ToList();
            heldOut = heldOut.Take(16).ToList();
        }

        var modes = engine.IsFlowMatching
            ? new[] { new Mode("exit_cold_k10", DecodeSettings.EarlyExitColdK10), new Mode("exit_cold_k2", DecodeSettings.EarlyExitColdK2), new Mode("exit_warm_k2", DecodeSettings.EarlyExitWarmK2) }
            : new[] { new Mode("exit_mlp", DecodeSettings.EarlyExitWarmK2) };
        var metric = DiscrepancyMetrics.Parse(package.Manifest.Defaults.Metric);

        Console.WriteLine($"engine benchmark: {engine.ModelId} ({engine.Layers} LM layers, exits {string.Join(",", engine.ExitLayers)}), " +
                          $"{calibration.Count} calibration / {heldOut.Count} held-out samples, batch 1 and {args.Batch}{(args.Quick ? ", quick" : "")}");

        var thresholds = new Dictionary<(string, double), ThresholdSet>();
        foreach (var mode in modes)
        {
            var started = DateTime.UtcNow;
            var values = ValuesCollector.Collect(engine, calibration, mode.Decode, metric, batchSize: args.Batch);
            foreach (var r in Rs)
            {
                thresholds[(mode.Key, r)] = ThresholdSet.Calibrate(values, DiscrepancyMetrics.Name(metric), ExitFamily.Exp, r, engine.ExitLayers.ToList(),
                    engine.Layers, engine.IsFlowMatching, engine.ModelId, package.Manifest.ModelVersion, $"{package.Manifest.SampleData} calibration episodes, {mode.Key}", DateTimeOffset.UtcNow);
            }

            Console.WriteLine($"  calibrated {mode.Key} on {values.Samples} samples in {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        }

        var json = new JsonObject
        {
            ["model"] = engine.ModelId,
            ["layers"] = engine.Layers,
            ["exit_layers"] = new JsonArray(engine.ExitLayers.Select(l => (JsonNode)l).ToArray()),
            ["calibration_samples"] = calibration.Count,
            ["held_out_samples"] = heldOut.Count,
            ["quick"] = args.Quick,
            ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            ["execution_provider"] = args.ExecutionProvider,
            ["measured_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };

        var rows = new JsonArray();
        PartTimings? parts1 = null;
        var repeats = args.Quick ? 1 : 3;
        foreach (var batch in new[] { 1, args.Batch }.Distinct())
        {
            Console.WriteLine();
            Console.WriteLine($"batch {batch}: median latency per request (ms), mean exit layer, share of LM layers run, expert layer-steps per request, ratio to full depth K=10");
            Console.WriteLine($"  {"mode",-16} {"r",4} {"p50 ms",8} {"exit",6} {"layers",7} {"expert",7} {"ratio",6}");
            var full = Measure(engine, heldOut, DecodeSettings.FullDepthK10, null, batch, repeats);
            var parts = engine.MeasureParts(batch, args.Quick ? 10 : 30);
            parts1 ??= parts;
            Add(rows, "full_k10", null, batch, full, full.P50, engine.Layers);
            foreach (var mode in modes)
            {
                foreach (var r in Rs)
                {
                    var m = Measure(engine, heldOut, mode.Decode, thresholds[(mode.Key, r)], batch, repeats);
                    Add(rows, mode.Key, r, batch, m, full.P50, engine.Layers);
                    if (batch == 1 && mode.Key is "exit_warm_k2" or "exit_mlp")
                    {
                        var key = r == 1.0 ? "ratio_warm_k2_vs_full_k10" : r == 0.1 ? "ratio_warm_k2_vs_full_k10_r01" : null;
                        if (key is not null)
                        {
                            json[key] = Math.Round(m.P50 / full.P50, 4);
                        }

                        if (r == 1.0)
                        {
                            json["breakdown_warm_k2_r10"] = Breakdown(m.Results, parts);
                            json["breakdown_full_k10"] = Breakdown(full.Results, parts);
                            var predicted = m.Results.Sum(parts.Predict) / full.Results.Sum(parts.Predict);
                            var measured = m.Results.Sum(x => x.TotalMs) / full.Results.Sum(x => x.TotalMs);
                            json["savings_realisation"] = Math.Round(measured / predicted, 4);
                            json["savings_predicted_ratio"] = Math.Round(predicted, 4);
                            json["savings_measured_ratio"] = Math.Round(measured, 4);
                        }
                    }
                }
            }

            if (batch == 1)
            {
                json["engine_overhead_ratio"] = Math.Round(full.TotalMs / full.OrtMs, 4);
                json["engine_overhead_ratio_early_exit"] = Math.Round(MeasureOverhead(engine, heldOut, modes[^1].Decode, thresholds[(modes[^1].Key, 1.0)]), 4);
            }

            Console.WriteLine($"  parts alone at batch {batch}: prefix {parts.PrefixMs:F2} ms, LM layer {parts.LanguageModelLayerMs:F2} ms, " +
                              (engine.IsFlowMatching
                                  ? $"expert layer-step {parts.ExpertLayerMs:F3} ms, suffix {parts.ExpertSuffixMs:F3} ms, velocity out {parts.ExpertOutputMs:F3} ms"
                                  : $"MLP head {parts.MlpHeadMs:F3} ms"));
            json[$"parts_batch_{batch}"] = JsonSerializer.SerializeToNode(parts);
        }

        json["rows"] = rows;
        Console.WriteLine();
        foreach (var key in new[] { "ratio_warm_k2_vs_full_k10", "ratio_warm_k2_vs_full_k10_r01", "savings_realisation", "engine_overhead_ratio" })
        {
            Console.WriteLine($"{key} = {json[key]}");
        }

        Directory.CreateDirectory(args.OutputDirectory);
        var path = Path.Combine(args.OutputDirectory, args.Model == "small-fm" ? "engine.json" : $"engine-{args.Model}.json");
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {path}");
        return 0;
    }

    private sealed record Measurement(double P50, double MeanExitLayer, double LayerShare, double ExpertLayerSteps, double TotalMs, double OrtMs, InferenceResult[] Results);

    private static Measurement Measure(A1Engine engine, List<ObservationSample> samples, DecodeSettings decode, ThresholdSet? thresholds, int batch, int repeats)
    {
        var requests = samples.Select((s, i) => ToRequest(s, decode, thresholds, (ulong)i)).ToList();
        engine.Run(requests.Take(batch).ToList()); // warm the bindings of this batch size
        var latencies = new List<double>();
        InferenceResult[] last = [];
        var stats = new BatchStatistics();
        for (var rep = 0; rep < repeats; rep++)
        {
            var results = new List<InferenceResult>();
            for (var start = 0; start < requests.Count; start += batch)
            {
                results.AddRange(engine.Run(requests.Skip(start).Take(batch).ToList(), stats));
            }

            var failed = results.FirstOrDefault(r => !r.Succeeded);
            if (failed is not null)
            {
                throw new InvalidOperationException($"benchmark request failed: {failed.Error}");
            }

            latencies.AddRange(results.Select(r => r.TotalMs));
            last = [.. results];
        }

        return new Measurement(Stats.Median(latencies), last.Average(r => r.ExitLayer), last.Average(r => r.LayersRun) / engine.Layers,
            last.Average(r => r.ExpertLayerSteps), stats.TotalMs, stats.OrtMs, last);
    }

    private static double MeasureOverhead(A1Engine engine, List<ObservationSample> samples, DecodeSettings decode, ThresholdSet thresholds)
    {
        var stats = new BatchStatistics();
        foreach (var request in samples.Select((s, i) => ToRequest(s, decode, thresholds, (ulong)i)))
        {
            engine.Run([request], stats);
        }

        return stats.TotalMs / stats.OrtMs;
    }

    /// <summary>Measured mean ms per request in each part next to what the part prices predict.</summary>
    private static JsonObject Breakdown(InferenceResult[] results, PartTimings parts) => new()
    {
        ["prefix_ms"] = Math.Round(results.Average(r => r.PrefixMs), 3),
        ["prefix_predicted_ms"] = Math.Round(parts.PrefixMs, 3),
        ["lm_ms"] = Math.Round(results.Average(r => r.LanguageModelMs), 3),
        ["lm_predicted_ms"] = Math.Round(results.Average(r => r.LayersRun * parts.LanguageModelLayerMs), 3),
        ["head_ms"] = Math.Round(results.Average(r => r.HeadMs), 3),
        ["head_predicted_ms"] = Math.Round(results.Average(r => (r.ExpertLayerSteps * parts.ExpertLayerMs) + (r.DenoisingSteps * (parts.ExpertSuffixMs + parts.ExpertOutputMs)) + (parts.MlpHeadMs > 0 ? r.HeadCalls * parts.MlpHeadMs : 0)), 3),
        ["bookkeeping_ms"] = Math.Round(results.Average(r => r.BookkeepingMs), 3),
        ["total_ms"] = Math.Round(results.Average(r => r.TotalMs), 3),
    };

    private static void Add(JsonArray rows, string mode, double? r, int batch, Measurement m, double fullP50, int layers)
    {
        rows.Add(new JsonObject
        {
            ["mode"] = mode,
            ["r"] = r,
            ["batch"] = batch,
            ["p50_ms"] = Math.Round(m.P50, 3),
            ["mean_exit_layer"] = Math.Round(m.MeanExitLayer, 3),
            ["lm_layer_share"] = Math.Round(m.LayerShare, 4),
            ["expert_layer_steps"] = Math.Round(m.ExpertLayerSteps, 2),
            ["ratio_vs_full_k10"] = Math.Round(m.P50 / fullP50, 4),
        });
        Console.WriteLine($"  {mode,-16} {(r is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "-"),4} {m.P50,8:F2} {m.MeanExitLayer,6:F2} {m.LayerShare,7:P0} {m.ExpertLayerSteps,7:F1} {m.P50 / fullP50,6:F3}");
    }

    private static InferenceRequest ToRequest(ObservationSample s, DecodeSettings decode, ThresholdSet? thresholds, ulong seed) => new()
    {
        Instruction = s.Instruction,
        State = s.State,
        Images = s.Images,
        Decode = decode,
        Thresholds = thresholds,
        Seed = seed,
    };
}
