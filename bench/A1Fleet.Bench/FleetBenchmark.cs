using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Grains.Hosting;
using A1Fleet.Grains.Inference;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace A1Fleet.Bench;

/// <summary>
/// N simulated robots against one silo on this machine, through a real Orleans client over loopback:
/// nominal load (each robot asks for its next chunk at its control cadence), saturation (each robot
/// asks again as soon as it is answered), and the same requests served one at a time by the same
/// engine without batching (how the reference A1 server serves).
/// </summary>
internal static class FleetBenchmark
{
    private const double ControlHz = 20;
    private const double RequestAheadShare = 0.5;
    private const double BudgetMs = 200;
    private const string Instruction = "pick up the red block";

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var models = args.Models?.Split(',') ?? ["tiny-fm", "small-fm"];
        if (!models.Contains(args.Model))
        {
            // The load section runs on --model (default small-fm): the silo must serve it.
            models = [.. models, args.Model];
        }

        var dirs = models.ToDictionary(m => m, m => ReferencePackages.Ensure(m, args.ModelsRoot, Console.Out));
        var phase = TimeSpan.FromSeconds(args.Quick ? 4 : 12);
        var fleetSizes = new Dictionary<string, int[]>
        {
            ["tiny-fm"] = [1, 8, 32, 64],
            ["small-fm"] = args.Quick ? [1, 8, 32] : [1, 8, 32, 64],
        };

        using var silo = await StartSiloAsync(dirs.Values.ToList(), args.SimulatedDevice, args.TimeScale, args.DeviceSpeedup, args.EngineOptions(1));
        using var client = await StartClientAsync();
        try
        {
            return await MeasureAsync(args, models, dirs, phase, fleetSizes, client.Services.GetRequiredService<IClusterClient>(), silo.Services.GetRequiredService<InferenceService>());
        }
        finally
        {
            await client.StopAsync();
            await silo.StopAsync();
        }
    }

    private static async Task<int> MeasureAsync(BenchArgs args, string[] models, Dictionary<string, string> dirs, TimeSpan phase, Dictionary<string, int[]> fleetSizes, IClusterClient grains,
        InferenceService device)
    {
        var json = new JsonObject
        {
            ["machine"] = $"{Environment.ProcessorCount} cores",
            ["quick"] = args.Quick,
            ["device"] = args.SimulatedDevice ? "simulated" : "engine",
            ["execution_provider"] = args.ExecutionProvider,
            ["budget_ms"] = BudgetMs,
            ["control_hz"] = ControlHz,
            ["request_ahead_share"] = RequestAheadShare,
            ["phase_seconds"] = phase.TotalSeconds,
            // The pool the silo's engine sized for the whole process (it loads first): 0 is ONNX Runtime's default.
            ["intra_op_threads"] = A1Engine.IntraOpThreads,
            ["measured_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        var rows = new JsonArray();
        Console.WriteLine($"fleet benchmark: one silo, real Orleans client over loopback, budget {BudgetMs} ms, {ControlHz} Hz, next chunk requested at {RequestAheadShare:P0} left; " +
                          $"ONNX Runtime intra-op threads: {(A1Engine.IntraOpThreads == 0 ? "its default" : A1Engine.IntraOpThreads.ToString(CultureInfo.InvariantCulture))}");
        Console.WriteLine($"{"model",-9} {"N",3} {"load",-10} {"req/s",8} {"p50 ms",8} {"p99 ms",8} {"in budget",9} {"batch",6} {"serial req/s",12} {"batched/serial",14}");
        foreach (var model in args.LoadOnly ? [] : models)
        {
            using var engine = A1Engine.Load(dirs[model], args.EngineOptions(1));
            var samples = ReferencePackages.HeldOut(engine.Package);
            var chunkSeconds = engine.Manifest.Action.Chunk / ControlHz;
            var period = TimeSpan.FromSeconds(chunkSeconds * (1 - RequestAheadShare));
            var serial = SerialThroughput(engine, samples, phase);
            foreach (var n in fleetSizes[model])
            {
                var robots = await BindRobotsAsync(grains, model, n);
                var nominal = await DriveAsync(robots, samples, period, phase, closedLoop: false);
                var saturated = await DriveAsync(robots, samples, period, phase, closedLoop: true);
                Report(rows, model, n, "nominal", nominal, serial, period);
                Report(rows, model, n, "saturated", saturated, serial, period);
                if (model == "tiny-fm" && n == 1)
                {
                    json["orleans_overhead_ms_p50"] = Math.Round(Stats.Median(nominal.Overheads), 3);
                }

                if (model == "tiny-fm" && n == fleetSizes[model].Max())
                {
                    json["ratio_batched_vs_serial_throughput"] = Math.Round(saturated.RequestsPerSecond / serial, 3);
                }

                if (n == fleetSizes[model].Max())
                {
                    json[$"ratio_batched_vs_serial_throughput_{model.Replace('-', '_')}"] = Math.Round(saturated.RequestsPerSecond / serial, 3);
                }
            }

            json[$"serial_requests_per_second_{model.Replace('-', '_')}"] = Math.Round(serial, 2);
        }

        await FleetLoadBenchmark.MeasureAsync(args, args.Model, dirs[args.Model], grains, () => device.BatchesJoined, json, args.SimulatedDevice ? device.PricesOf(args.Model) : null);

        var tinyNominal = rows.OfType<JsonObject>().Where(r => (string?)r["model"] == "tiny-fm" && (string?)r["load"] == "nominal").ToList();
        json["within_budget_share"] = tinyNominal.Count == 0 ? null : tinyNominal.Min(r => (double)r["within_budget_share"]!);
        json["rows"] = rows;
        Console.WriteLine();
        foreach (var key in new[]
                 {
                     "ratio_batched_vs_serial_throughput", "ratio_batched_vs_serial_throughput_small_fm", "within_budget_share", "orleans_overhead_ms_p50",
                     "within_budget_share_at_1_5x", "answered_share_at_1_5x", "p99_ms_answered_at_3x", "refusal_ms_p99_at_3x", "silo_rss_growth_mb_at_3x",
                     "hold_share_of_buffered_robots_at_3x", "demand_share_of_first_exit_capacity_at_3x", "forced_exit_share_nominal", "queue_wait_ms_p99_nominal", "lm_layer_ms_at_nominal_batch",
                     "prefix_ms_at_nominal_batch", "prefix_steps", "expert_layers_per_step", "longest_step_ms_at_nominal_batch",
                 })
        {
            Console.WriteLine($"{key} = {json[key]}");
        }

        if (dirs.TryGetValue("tiny-fm", out var tiny))
        {
            // Its own silo host (HTTP endpoints), after this one's figures: the compatible protocols' costs.
            await CompatBenchmark.MeasureAsync(json, tiny, phase);
        }

        Directory.CreateDirectory(args.OutputDirectory);
        var path = Path.Combine(args.OutputDirectory, "fleet.json");
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {path}");
        return 0;
    }

    private sealed record Robot(IRobotGrain Grain, long Epoch);

    private sealed record Drive(double RequestsPerSecond, List<double> Latencies, List<double> Overheads, double WithinBudget, double MeanBatch, int Errors);

    private static async Task<List<Robot>> BindRobotsAsync(IClusterClient client, string model, int n)
    {
        var robots = new List<Robot>();
        var kinds = Enum.GetValues<Embodiment>();
        for (var i = 0; i < n; i++)
        {
            var grain = client.GetGrain<IRobotGrain>($"bench-{model}-{n}-{i}");
            var lease = await grain.Bind(new AgentRegistration($"bench-{i}", kinds[i % kinds.Length], model, 0, 0, [], ControlHz, ["bench"]), null);
            await grain.SetLatencyBudget(BudgetMs);
            await grain.AssignTask(Instruction, "bench");
            robots.Add(new Robot(grain, lease.Epoch));
        }

        return robots;
    }

    private static async Task<Drive> DriveAsync(List<Robot> robots, IReadOnlyList<ObservationSample> samples, TimeSpan period, TimeSpan duration, bool closedLoop)
    {
        // Warm-up round so first-call costs (activations, bindings for new batch sizes) stay out of the figures.
        await Task.WhenAll(robots.Select((r, i) => r.Grain.Act(r.Epoch, Observation(samples, i, 0))));
        var latencies = new List<double>();
        var overheads = new List<double>();
        var inverseBatch = 0.0;
        int within = 0, errors = 0;
        var gate = new Lock();
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(robots.Select((robot, index) => Task.Run(async () =>
        {
            var next = Stopwatch.GetTimestamp() + (long)(Random.Shared.NextDouble() * period.TotalSeconds * Stopwatch.Frequency);
            for (var seq = 1L; ; seq++)
            {
                if (!closedLoop)
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }

                    next += (long)(period.TotalSeconds * Stopwatch.Frequency);
                }

                if (Stopwatch.GetTimestamp() >= end)
                {
                    return;
                }

                var t0 = Stopwatch.GetTimestamp();
                var chunk = await robot.Grain.Act(robot.Epoch, Observation(samples, index, seq));
                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                lock (gate)
                {
                    if (chunk.Status != ChunkStatus.Ok || chunk.Stats is null)
                    {
                        if (errors++ == 0)
                        {
                            Console.Error.WriteLine($"  robot {index}: {chunk.Status} {chunk.Error}");
                        }

                        continue;
                    }

                    latencies.Add(ms);
                    overheads.Add(ms - chunk.Stats.EngineMs);
                    inverseBatch += 1.0 / chunk.Stats.BatchSize;
                    if (ms <= BudgetMs)
                    {
                        within++;
                    }
                }
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var count = latencies.Count;
        return new Drive(count / seconds, latencies, overheads, count == 0 ? 0 : (double)within / (count + errors), count / Math.Max(inverseBatch, 1e-9), errors);
    }

    private static double SerialThroughput(A1Engine engine, IReadOnlyList<ObservationSample> samples, TimeSpan duration)
    {
        var thresholds = ReferencePackages.LoadThresholds(engine.Package, "exp-r0.7-cosine");
        var requests = samples.Select((s, i) => new A1Fleet.Engine.Inference.InferenceRequest
        {
            Instruction = Instruction,
            State = s.State,
            Images = s.Images,
            Decode = DecodeSettings.EarlyExitWarmK2,
            Thresholds = thresholds,
            Seed = (ulong)i,
        }).ToList();
        engine.Run([requests[0]]);
        var started = Stopwatch.GetTimestamp();
        var count = 0;
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            var result = engine.Run([requests[count % requests.Count]])[0];
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"serial baseline request failed: {result.Error}");
            }

            count++;
        }

        return count / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private static Observation Observation(IReadOnlyList<ObservationSample> samples, int robot, long sequence)
    {
        var s = samples[(int)((robot * 7 + sequence) % samples.Count)];
        return new Observation(sequence, s.State, [.. s.Images], DateTimeOffset.UtcNow);
    }

    private static void Report(JsonArray rows, string model, int n, string load, Drive d, double serial, TimeSpan period)
    {
        var p50 = Stats.Median(d.Latencies);
        var p99 = Stats.Percentile(d.Latencies, 0.99);
        rows.Add(new JsonObject
        {
            ["model"] = model,
            ["robots"] = n,
            ["load"] = load,
            ["offered_requests_per_second"] = load == "nominal" ? Math.Round(n / period.TotalSeconds, 2) : null,
            ["requests_per_second"] = Math.Round(d.RequestsPerSecond, 2),
            ["p50_ms"] = Finite(p50),
            ["p99_ms"] = Finite(p99),
            ["within_budget_share"] = Math.Round(d.WithinBudget, 5),
            ["mean_batch_size"] = Math.Round(d.MeanBatch, 2),
            ["errors"] = d.Errors,
            ["serial_requests_per_second"] = Math.Round(serial, 2),
            ["ratio_vs_serial"] = Math.Round(d.RequestsPerSecond / serial, 3),
        });
        Console.WriteLine($"{model,-9} {n,3} {load,-10} {d.RequestsPerSecond,8:F1} {p50,8:F2} {p99,8:F2} {d.WithinBudget,9:P2} {d.MeanBatch,6:F2} {serial,12:F1} {d.RequestsPerSecond / serial,14:F2}");
    }

    private static double? Finite(double value) => double.IsFinite(value) ? Math.Round(value, 3) : null;

    /// <param name="timeScale">With the simulated device: its per-part times and the robots' default budget times this.</param>
    /// <param name="deviceSpeedup">With the simulated device: its per-part times divided by this (a faster device, the budgets as they are).</param>
    /// <param name="engine">The run's engine settings: the silo's provider and intra-op threads (its engine loads first, so it sizes the process's pool).</param>
    private static async Task<IHost> StartSiloAsync(List<string> modelDirs, bool simulatedDevice, double timeScale, double deviceSpeedup, EngineOptions engine)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        var settings = new Dictionary<string, string?>
        {
            ["A1Fleet:Inference:Engine:MaxBatchSize"] = "64",
            ["A1Fleet:Inference:Batching:MaxBatchSize"] = "64",
            ["A1Fleet:Robots:DefaultLatencyBudget"] = TimeSpan.FromMilliseconds(BudgetMs * timeScale).ToString("c", CultureInfo.InvariantCulture),
            ["A1Fleet:Inference:Device"] = simulatedDevice ? "Simulated" : "Engine",
            ["A1Fleet:Inference:Engine:IntraOpThreads"] = engine.IntraOpThreads.ToString(CultureInfo.InvariantCulture),
            ["A1Fleet:Inference:Engine:ExecutionProvider"] = engine.ExecutionProvider,
        };
        if (simulatedDevice && timeScale / deviceSpeedup != 1)
        {
            settings["A1Fleet:Inference:SimulatedTimeScale"] = (timeScale / deviceSpeedup).ToString(CultureInfo.InvariantCulture);
        }
        for (var i = 0; i < modelDirs.Count; i++)
        {
            settings[$"A1Fleet:Inference:ModelPackages:{i}"] = modelDirs[i];
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort: 21111, gatewayPort: 40000, serviceId: "a1fleet-bench", clusterId: "a1fleet-bench");
            silo.AddMemoryGrainStorage(FleetOptions.StorageName);
            silo.AddA1Fleet(builder.Configuration, gpu: true);
        });
        var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<ModelRegistrationStartup>().Ready;
        return host;
    }

    private static async Task<IHost> StartClientAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.UseOrleansClient(client => client.UseLocalhostClustering(gatewayPort: 40000, serviceId: "a1fleet-bench", clusterId: "a1fleet-bench"));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
