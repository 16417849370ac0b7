using System.Diagnostics;
using System.Text.Json.Nodes;
using A1Fleet.Bench.SimFleet;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;

namespace A1Fleet.Bench;

/// <summary>
/// Deadlines under load (issue 11), on the silo the fleet bench started: the device's full-depth capacity is measured
/// first in the same run, then robots that behave like agents (ask for the next chunk with half a chunk left, after a
/// refusal ask again after its hint, hold only when the actions they hold run out) offer a nominal load, 1.5x and 3x
/// that capacity. Nominal is half the capacity, after a warm-up of it not recorded that lasts until the JIT is quiet (a
/// silo's first requests run code for the first time and activate its grains; then its hot paths are recompiled). With
/// <c>--device simulated</c> the silo and the capacity measure use the simulated device (the engine's measured time per
/// part, no computation), which leaves the CPU to Orleans.
/// </summary>
internal static class FleetLoadBenchmark
{
    private const double ControlHz = 20;
    private const double RequestAheadShare = 0.5;
    private const double BudgetMs = 200;
    private const double NominalShare = 0.5;
    private const int CapacityBatch = 16;
    private const string Instruction = "pick up the red block";

    /// <summary>The longest the warm-up waits for the JIT to settle before the nominal phase starts anyway.</summary>
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(30);

    /// <param name="batchesJoined">The silo's count of batches joined on its device so far (<c>InferenceService.BatchesJoined</c>).</param>
    /// <param name="simulatedPrices">With the simulated device: the prices the silo's device runs at (already times the time scale).</param>
    public static async Task MeasureAsync(BenchArgs args, string model, string modelDir, IClusterClient grains, Func<long> batchesJoined, JsonObject json,
        ModelPrices? simulatedPrices)
    {
        using var engine = A1Engine.Load(modelDir, args.EngineOptions(CapacityBatch));
        var samples = ReferencePackages.HeldOut(engine.Package);
        // --time-scale K (simulated device only): device, cadence, budget and phases all K times slower, as simfleet runs.
        var k = args.SimulatedDevice ? args.TimeScale : 1;
        var budgetMs = BudgetMs * k;
        var phase = TimeSpan.FromSeconds((args.Quick ? 4 : 12) * k);
        // The RSS window is wall time (memory does not scale); at least one phase.
        var rssPhase = TimeSpan.FromSeconds(Math.Max(args.Quick ? 8 : 60, phase.TotalSeconds));
        // The robots' control rate is scaled with the rest: their grains count the actions an arm holds in its periods.
        var pace = new RobotPace(engine.Manifest.Action.Chunk, ControlHz / k, budgetMs);
        var perRobotRate = 1 / (pace.ChunkSeconds * (1 - RequestAheadShare));
        // With the simulated device the capacity is measured on the silo's own device, at the prices it priced at start:
        // pricing another here measured another device (the machine's speed swings from minute to minute), and a "3x"
        // phase met a silo slower or faster than it was sized by.
        var device = simulatedPrices is { } prices ? new SimulatedDevice(engine, prices.BatchOne, prices.BatchMax) : null;
        Func<List<A1Fleet.Engine.Inference.InferenceRequest>, InferenceResult[]> run = requests => device is null ? engine.Run(requests) : device.Run(requests);
        var capacity = Capacity(run, samples, maxLayer: null, TimeSpan.FromSeconds(args.Quick ? 4 : 12));
        // What the device answers at most under any policy that still answers: every row at the first exit, in full batches.
        var firstExitCapacity = Capacity(run, samples, maxLayer: engine.ExitLayers[0], TimeSpan.FromSeconds(args.Quick ? 2 : 6));
        var nominalRobots = Math.Max(1, (int)Math.Floor(NominalShare * capacity / perRobotRate));
        var robots15 = (int)Math.Ceiling(1.5 * capacity / perRobotRate);
        var robots3 = (int)Math.Ceiling(3 * capacity / perRobotRate);
        Console.WriteLine();
        var demandShare3 = robots3 * perRobotRate / firstExitCapacity;
        Console.WriteLine($"deadlines under load ({model}): full-depth capacity {capacity:F1} req/s at batch {CapacityBatch} (first exit only: {firstExitCapacity:F1}, " +
                          $"which the 3x robots ask {demandShare3:P0} of); a robot asks {perRobotRate:F1} req/s; " +
                          $"nominal ({NominalShare}x) = {nominalRobots} robots, 1.5x = {robots15} robots, 3x = {robots3} robots; budget {budgetMs} ms{(device is null ? "" : "; SIMULATED device")}{(k == 1 ? "" : $", time scale {k}")}{(args.DeviceSpeedup == 1 ? "" : $", {args.DeviceSpeedup}x faster than this machine's engine")}");
        Console.WriteLine($"{"load",-8} {"N",4} {"answered",9} {"in budget",9} {"refused",8} {"p99 ms",8} {"refuse p99",10} {"forced",7} {"exit",5} {"queue p99",9} {"held/buffered",13} {"held time",9} {"late",5} {"outside",8} {"joined",6}");

        // Not recorded: the silo's first requests run code paths for the first time and activate its grains, and for
        // seconds after that the runtime recompiles the hot ones optimised (tiered JIT): here up to a core's worth of
        // compiling, which stalls the device thread by tens of ms. The nominal phase measures the scheduler, not that.
        var jitQuiet = new JitQuiet();
        var warmUp = await RunAsync(grains, model, nominalRobots, samples, pace, WarmUpLimit, "warm-up", batchesJoined, jitQuiet.IsQuiet);
        var nominal = await RunAsync(grains, model, nominalRobots, samples, pace, phase, "nominal", batchesJoined);
        var at15 = await RunAsync(grains, model, robots15, samples, pace, phase, "1.5x", batchesJoined);
        var rssBefore = Rss();
        var at3 = await RunAsync(grains, model, robots3, samples, pace, rssPhase, "3x", batchesJoined);
        var rssGrowth = (Rss() - rssBefore) / (1024.0 * 1024.0);

        json["load_model"] = model;
        json["full_depth_capacity_requests_per_second"] = Math.Round(capacity, 2);
        json["first_exit_capacity_requests_per_second"] = Math.Round(firstExitCapacity, 2);
        json["demand_share_of_first_exit_capacity_at_3x"] = Round(demandShare3);
        json["robots_nominal"] = nominalRobots;
        json["robots_at_1_5x"] = robots15;
        json["robots_at_3x"] = robots3;
        json["load_time_scale"] = k;
        json["load_device_speedup"] = args.SimulatedDevice ? args.DeviceSpeedup : 1;
        json["load_warmup_seconds"] = Math.Round(warmUp.Seconds, 1);
        json["within_budget_share_at_1_5x"] = Round(at15.WithinBudgetShare);
        json["answered_share_at_1_5x"] = Round(at15.AnsweredShare);
        json["p99_ms_answered_at_3x"] = Round(Stats.Percentile(at3.Latencies, 0.99));
        json["refusal_ms_p99_at_3x"] = Round(Stats.Percentile(at3.RefusalLatencies, 0.99));
        json["refusal_ms_p99_at_once_at_3x"] = Round(Stats.Percentile(at3.AtOnceRefusalLatencies, 0.99));
        json["silo_rss_growth_mb_at_3x"] = Math.Round(rssGrowth, 1);
        json["silo_rss_window_seconds"] = rssPhase.TotalSeconds;
        json["hold_share_of_buffered_robots_at_3x"] = Round(at3.HoldShareOfBufferedRobots);
        json["held_time_share_at_3x"] = Round(at3.HeldTimeShare);
        json["forced_exit_share_nominal"] = Round(nominal.ForcedShare);
        json["queue_wait_ms_p99_nominal"] = Round(Stats.Percentile(nominal.QueueWaits, 0.99));
        var nominalBatch = Math.Clamp((int)Math.Round(nominal.MeanBatch), 1, CapacityBatch);
        var parts = engine.MeasureParts(nominalBatch, repetitions: 5);
        json["lm_layer_ms_at_nominal_batch"] = Round(parts.LanguageModelLayerMs);
        // A request launched beside a batch in flight waits for the step running, which is never cut short: a prefix
        // step (the whole prefix, or one of its stages); an LM block; a part of a head (the silo's engine splits a
        // flow-matching head into steps of about one layer once warmed up, as this one now is), or, unsplit, the block
        // with its whole head at the deepest exit (the silo's default decoding).
        engine.WarmUp();
        var prefixSteps = engine.MeasurePrefixSteps(nominalBatch, repetitions: 5);
        var lastExit = engine.ExitLayers[^1];
        var expertLayers = engine.ExpertLayersPerStep;
        var layerStepMs = expertLayers == 0
            ? parts.LanguageModelLayerMs + parts.HeadMs(lastExit, DecodeSettings.Of(Decodings.Default).DenoisingSteps)
            : Math.Max(parts.LanguageModelLayerMs, parts.ExpertSuffixMs + parts.ExpertOutputMs + (Math.Min(expertLayers, lastExit + 1) * parts.ExpertLayerMs));
        Console.WriteLine($"steps at the nominal batch of {nominalBatch}: LM layer {parts.LanguageModelLayerMs:F2} ms; prefix {string.Join(" + ", prefixSteps.Select(ms => ms.ToString("F2")))} ms; " +
                          $"head part {(expertLayers == 0 ? "(whole, with the last block)" : $"of {expertLayers} expert layers")} {layerStepMs:F2} ms");
        json["prefix_ms_at_nominal_batch"] = Round(parts.PrefixMs);
        json["prefix_steps"] = prefixSteps.Count;
        json["expert_layers_per_step"] = expertLayers;
        json["longest_step_ms_at_nominal_batch"] = Round(Math.Max(prefixSteps.Max(), layerStepMs));
        json["load_rows"] = new JsonArray(nominal.Row(), at15.Row(), at3.Row());
    }

    /// <summary>
    /// Requests per second the engine serves in batches of <see cref="CapacityBatch"/>, without the fleet around it: at
    /// full depth, or with every row stopped at <paramref name="maxLayer"/>.
    /// </summary>
    private static double Capacity(Func<List<A1Fleet.Engine.Inference.InferenceRequest>, InferenceResult[]> run, List<ObservationSample> samples, int? maxLayer, TimeSpan duration)
    {
        var batch = Enumerable.Range(0, CapacityBatch).Select(i => new A1Fleet.Engine.Inference.InferenceRequest
        {
            Instruction = Instruction,
            State = samples[i % samples.Count].State,
            Images = samples[i % samples.Count].Images,
            Decode = DecodeSettings.FullDepthK10 with { DenoisingSteps = 2 },
            MaxLayer = maxLayer,
            Seed = (ulong)i,
        }).ToList();
        run(batch);
        var started = Stopwatch.GetTimestamp();
        var served = 0;
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            var results = run(batch);
            if (results.FirstOrDefault(r => !r.Succeeded) is { } failed)
            {
                throw new InvalidOperationException($"capacity batch failed: {failed.Error}");
            }

            served += results.Length;
        }

        return served / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private sealed class Phase(string load, int robots)
    {
        public readonly Lock Gate = new();
        public List<double> Latencies { get; } = [];
        public List<double> RefusalLatencies { get; } = [];
        public List<double> AtOnceRefusalLatencies { get; } = [];
        public Dictionary<string, int> RefusalReasons { get; } = [];
        /// <summary>Answers by the layer they exited at: how deep the load let rows go.</summary>
        public SortedDictionary<int, int> ExitLayers { get; } = [];
        public List<double> QueueWaits { get; } = [];
        public List<double> OutsideSiloMs { get; } = [];
        public int LateAtSilo { get; set; }
        public int Within { get; set; }
        public int Refused { get; set; }
        public int Errors { get; set; }
        public int Forced { get; set; }
        public double InverseBatch { get; set; }
        public int BufferedRobots { get; set; }
        public int HeldBufferedRobots { get; set; }

        /// <summary>Time arms spent holding for want of actions (all robots), over the robots' time in the phase.</summary>
        public double HeldTimeShare { get; set; }
        public long BatchesJoined { get; set; }

        /// <summary>How long the phase ran: its duration, or less where it was ended once settled.</summary>
        public double Seconds { get; set; }

        public double AnsweredShare => Share(Latencies.Count, Latencies.Count + Refused + Errors);
        public double WithinBudgetShare => Share(Within, Latencies.Count);
        public double ForcedShare => Share(Forced, Latencies.Count);
        public double MeanBatch => Latencies.Count / Math.Max(InverseBatch, 1e-9);
        public double MeanExitLayer => Latencies.Count == 0 ? double.NaN : ExitLayers.Sum(kv => (double)kv.Key * kv.Value) / Latencies.Count;
        public double HoldShareOfBufferedRobots => Share(HeldBufferedRobots, BufferedRobots);

        public JsonObject Row() => new()
        {
            ["load"] = load,
            ["robots"] = robots,
            ["answered"] = Latencies.Count,
            ["refused"] = Refused,
            ["errors"] = Errors,
            ["answered_share"] = Round(AnsweredShare),
            ["within_budget_share"] = Round(WithinBudgetShare),
            ["p50_ms"] = Round(Stats.Percentile(Latencies, 0.5)),
            ["p99_ms"] = Round(Stats.Percentile(Latencies, 0.99)),
            ["refusal_ms_p99"] = Round(Stats.Percentile(RefusalLatencies, 0.99)),
            ["refusal_ms_p99_at_once"] = Round(Stats.Percentile(AtOnceRefusalLatencies, 0.99)),
            ["refusals_by_reason"] = new JsonObject(RefusalReasons.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["forced_exit_share"] = Round(ForcedShare),
            ["mean_exit_layer"] = Round(MeanExitLayer),
            ["answers_by_exit_layer"] = new JsonObject(ExitLayers.Select(kv => KeyValuePair.Create(kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), (JsonNode?)kv.Value))),
            ["queue_wait_ms_p99"] = Round(Stats.Percentile(QueueWaits, 0.99)),
            ["late_at_silo"] = LateAtSilo,
            ["outside_inference_grain_ms_p99"] = Round(Stats.Percentile(OutsideSiloMs, 0.99)),
            ["mean_batch_size"] = Round(MeanBatch),
            ["robots_refused_with_actions_left"] = BufferedRobots,
            ["of_those_held"] = HeldBufferedRobots,
            ["held_time_share"] = Round(HeldTimeShare),
            ["batches_joined"] = BatchesJoined,
        };

        public void Print() => Console.WriteLine(
            $"{load,-8} {robots,4} {AnsweredShare,9:P1} {WithinBudgetShare,9:P2} {Refused,8} {Stats.Percentile(Latencies, 0.99),8:F1} {Stats.Percentile(RefusalLatencies, 0.99),10:F2} " +
            $"{ForcedShare,7:P2} {MeanExitLayer,5:F2} {Stats.Percentile(QueueWaits, 0.99),9:F2} {HeldBufferedRobots,6}/{BufferedRobots,-6} {HeldTimeShare,9:P2} {LateAtSilo,5} {Stats.Percentile(OutsideSiloMs, 0.99),8:F1} {BatchesJoined,6} " +
            string.Join(" ", RefusalReasons.Select(kv => $"{kv.Key}={kv.Value}")));

        private static double Share(int part, int whole) => whole == 0 ? double.NaN : (double)part / whole;
    }

    /// <summary>
    /// <paramref name="n"/> robots for <paramref name="duration"/>, each as its agent would: a chunk of
    /// <paramref name="pace"/>'s steps covers its time at its control rate from its observation; the next request
    /// goes out with half of it left and reports the actions still held; a refusal's hint delays the next request; the arm
    /// holds when the last chunk's actions have run out before the next arrives.
    /// </summary>
    /// <param name="settled">Checked once a second: true ends the phase early (the warm-up, once the JIT is quiet).</param>
    private static async Task<Phase> RunAsync(IClusterClient client, string model, int n, List<ObservationSample> samples, RobotPace pace, TimeSpan duration,
        string load, Func<long> batchesJoined, Func<bool>? settled = null)
    {
        var (chunkSteps, chunkSeconds, budgetMs) = (pace.Chunk, pace.ChunkSeconds, pace.BudgetMs);
        var robots = new List<(IRobotGrain Grain, long Epoch)>();
        var tag = load.Replace('.', '_');
        var kinds = Enum.GetValues<Embodiment>();
        await Task.WhenAll(Enumerable.Range(0, n).Select(async i =>
        {
            var grain = client.GetGrain<IRobotGrain>($"load-{model}-{tag}-{i}");
            var lease = await grain.Bind(new AgentRegistration($"load-{i}", kinds[i % kinds.Length], model, 0, 0, [], pace.ControlHz, ["load"]), null);
            await grain.SetLatencyBudget(budgetMs);
            await grain.AssignTask(Instruction, "bench");
            lock (robots)
            {
                robots.Add((grain, lease.Epoch));
            }
        }));

        var result = new Phase(load, n);
        var frequency = Stopwatch.Frequency;
        var chunkTicks = (long)(chunkSeconds * frequency);
        var aheadTicks = (long)(chunkSeconds * RequestAheadShare * frequency);
        var periodTicks = chunkTicks / chunkSteps;
        var joinedBefore = batchesJoined();
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(duration.TotalSeconds * frequency);
        using var robotsDone = new CancellationTokenSource();
        var watching = settled is null ? Task.CompletedTask : EndOnceSettledAsync();
        await Task.WhenAll(robots.Select((robot, index) => Task.Run(async () =>
        {
            // Spread the first requests over one period; the arm starts as if a chunk had just arrived.
            var actionsUntil = Stopwatch.GetTimestamp() + (long)(Random.Shared.NextDouble() * (chunkTicks - aheadTicks)) + aheadTicks;
            var retryAt = 0L;
            bool buffered = false, held = false;
            // Holding time within the phase: from when the actions ran out until an answer brought new ones.
            long heldTicks = 0, countedUntil = started;
            for (var seq = 1L; ; seq++)
            {
                var next = Math.Max(actionsUntil - aheadTicks, retryAt);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                var sent = Stopwatch.GetTimestamp();
                if (sent >= Volatile.Read(ref end))
                {
                    break;
                }

                var s = samples[(int)((index * 7 + seq) % samples.Count)];
                // The arm reports the actions it still holds, as an agent does (whole control periods).
                var heldActions = (int)Math.Clamp(Math.Floor((actionsUntil - sent) / (double)periodTicks), 0, chunkSteps);
                var chunk = await robot.Grain.Act(robot.Epoch, new Observation(seq, s.State, [.. s.Images], DateTimeOffset.UtcNow, ActionsHeld: heldActions));
                var now = Stopwatch.GetTimestamp();
                var ms = Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds;
                held |= buffered && now > actionsUntil;
                lock (result.Gate)
                {
                    switch (chunk.Status)
                    {
                        case ChunkStatus.Ok when chunk.Stats is { } stats:
                            if (now > actionsUntil)
                            {
                                heldTicks += Math.Max(0, Math.Min(now, end) - Math.Max(actionsUntil, countedUntil));
                                countedUntil = now;
                            }

                            result.Latencies.Add(ms);
                            result.ExitLayers[stats.ExitLayer] = result.ExitLayers.GetValueOrDefault(stats.ExitLayer) + 1;
                            result.QueueWaits.Add(stats.QueueMs);
                            result.OutsideSiloMs.Add(ms - stats.TotalMs);
                            result.LateAtSilo += stats.BudgetMissed ? 1 : 0;
                            result.InverseBatch += 1.0 / stats.BatchSize;
                            result.Within += ms <= budgetMs ? 1 : 0;
                            result.Forced += stats.ForcedExit ? 1 : 0;
                            // The chunk's actions run from its observation on.
                            actionsUntil = Math.Max(actionsUntil, sent + chunkTicks);
                            retryAt = 0;
                            break;
                        case ChunkStatus.Refused:
                            result.Refused++;
                            result.RefusalLatencies.Add(ms);
                            var reason = chunk.Error?.Split(':')[0] ?? "unknown";
                            result.RefusalReasons[reason] = result.RefusalReasons.GetValueOrDefault(reason) + 1;
                            if (reason != "expired_in_queue")
                            {
                                result.AtOnceRefusalLatencies.Add(ms);
                            }

                            buffered |= now < actionsUntil;
                            retryAt = now + (long)(chunk.RetryAfterMs / 1000.0 * frequency);
                            break;
                        default:
                            if (result.Errors++ == 0)
                            {
                                Console.Error.WriteLine($"  robot {index}: {chunk.Status} {chunk.Error}");
                            }

                            retryAt = now + (frequency / 10);
                            break;
                    }
                }
            }

            lock (result.Gate)
            {
                result.BufferedRobots += buffered ? 1 : 0;
                result.HeldBufferedRobots += buffered && held ? 1 : 0;
                // Still holding when the phase ended.
                heldTicks += Math.Max(0, end - Math.Max(actionsUntil, countedUntil));
                result.HeldTimeShare += heldTicks / (double)(n * (end - started));
            }
        })));
        await robotsDone.CancelAsync();
        await watching;
        result.Seconds = Stopwatch.GetElapsedTime(started, end).TotalSeconds;

        // Unbind: the next phase's robots are new ones, and these must not hold queue share.
        await Task.WhenAll(robots.Select(r => r.Grain.ClearTask("bench")));
        result.BatchesJoined = batchesJoined() - joinedBefore;
        result.Print();
        return result;

        async Task EndOnceSettledAsync()
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                while (await timer.WaitForNextTickAsync(robotsDone.Token))
                {
                    if (settled())
                    {
                        Volatile.Write(ref end, Stopwatch.GetTimestamp());
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The phase ran its whole duration.
            }
        }
    }

    /// <summary>
    /// Whether the runtime compiled for less than <see cref="QuietShare"/> of the time between each of the last
    /// <see cref="QuietChecks"/> times it was asked: the silo's hot paths have been recompiled optimised, and compiling no
    /// longer competes with the device thread for the cores. (One quiet second alone was seen followed by more compiling.)
    /// </summary>
    private sealed class JitQuiet
    {
        private const double QuietShare = 0.01;
        private const int QuietChecks = 2;
        private TimeSpan compiled = System.Runtime.JitInfo.GetCompilationTime();
        private long asked = Stopwatch.GetTimestamp();
        private int quietInARow;

        public bool IsQuiet()
        {
            var (compiledNow, now) = (System.Runtime.JitInfo.GetCompilationTime(), Stopwatch.GetTimestamp());
            var share = (compiledNow - compiled) / Stopwatch.GetElapsedTime(asked, now);
            (compiled, asked) = (compiledNow, now);
            quietInARow = share < QuietShare ? quietInARow + 1 : 0;
            return quietInARow >= QuietChecks;
        }
    }

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }

    private static double? Round(double value) => double.IsFinite(value) ? Math.Round(value, 4) : null;
}
