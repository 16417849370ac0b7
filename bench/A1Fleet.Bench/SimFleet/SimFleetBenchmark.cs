using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;
using A1Fleet.ProcessHarness;
using A1Fleet.RobotAgent.Cluster;
using Grpc.Core;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Bench.SimFleet;

/// <summary>
/// The sizes of one simfleet run. Phase lengths are in the fleet's own (unscaled) seconds; a phase run at time scale K
/// takes K times as long (the simulated device's per-part times, the robots' cadence and budget, all stretched alike).
/// </summary>
/// <param name="Silos">Silo processes of the scale-out and crowd phases (the scale-out compares them with one silo).</param>
/// <param name="SaturationFactor">Scale-out load: this many times the full-depth capacity the bench estimates per silo.</param>
/// <param name="ScaleoutTimeScale">Time scale of the scale-out phases (small-fm).</param>
/// <param name="CrowdRobots">Robots of the crowd phase (the issue's 1,000).</param>
/// <param name="CrowdTimeScale">Time scale of the crowd phase (tiny-fm, 20 Hz): what keeps its messages within the machine.</param>
/// <param name="CrowdSpeedup">The crowd's device: this many times faster than the engine measured on this machine.</param>
/// <param name="FailoverRobots">Most robots of the failover phase (2 silos, real time: failure detection does not scale);
/// fewer when the estimated capacity of one silo cannot carry them at 60 %.</param>
/// <param name="FailoverSpeedup">The failover phase's device: this many times faster than the engine measured here.</param>
internal sealed record SimFleetSizes(
    int Silos, double SaturationFactor, double ScaleoutTimeScale, double ScaleoutWarmup, double ScaleoutMeasure,
    int CrowdRobots, double CrowdTimeScale, double CrowdSpeedup, double CrowdWarmup, double CrowdMeasure,
    int FailoverRobots, double FailoverSpeedup, double FailoverWarmup, double FailoverWindow)
{
    public static SimFleetSizes Full(double scaleoutTimeScale, double crowdTimeScale) =>
        new(4, 3.0, scaleoutTimeScale, 2, 6, 1000, crowdTimeScale, 4, 1, 3, FailoverRobots: 24, FailoverSpeedup: 4, FailoverWarmup: 6, FailoverWindow: 10);

    public static SimFleetSizes Quick(double scaleoutTimeScale, double crowdTimeScale) =>
        new(4, 3.0, scaleoutTimeScale, 1, 2, 1000, crowdTimeScale, 4, 0.5, 0.8, FailoverRobots: 12, FailoverSpeedup: 4, FailoverWarmup: 4, FailoverWindow: 6);
}

/// <summary>
/// Multi-silo figures on the simulated device (issue 11; docs/benchmarks.md, "Many silos, simulated device"): real
/// redis-server and silo processes on loopback, every silo a GPU silo with <c>A1Fleet:Inference:Device = Simulated</c>
/// (batches spend the engine's measured per-part time, times <c>SimulatedTimeScale</c>), and simulated robots that each
/// hold an operator-issued credential and go through the robot gateway (gRPC, the agent's round-robin channel over every
/// silo's gateway) as the agent's control loop does (<see cref="RobotPace"/>).
/// <list type="bullet">
/// <item>Scale-out (small-fm): saturated goodput (answers within budget per second) with 1 silo, then with
/// <see cref="SimFleetSizes.Silos"/>, at the same load per silo; <c>scaleout_efficiency_4_silos</c> = G4 / (4 G1).</item>
/// <item>Crowd (tiny-fm, on the same silos): <see cref="SimFleetSizes.CrowdRobots"/> robots at 20 Hz;
/// <c>within_budget_share_1000_robots_simulated</c>.</item>
/// <item>Failover (small-fm, 2 silos, time unscaled): a silo is SIGKILLed mid-run; per robot the longest time without an
/// executable action (<c>failover_gap_ms_p99</c>), and robots that held actions at the kill yet ran empty
/// (<c>failover_holds_buffered_robots</c>).</item>
/// </list>
/// </summary>
internal static class SimFleetBenchmark
{
    public const string ScaleoutModel = "small-fm";
    public const string CrowdModel = "tiny-fm";
    public const string FailoverModel = "small-fm";
    private const double ControlHz = 20;
    private const double BudgetMs = 200;
    private const int CapacityBatch = 16;
    private const string Instruction = "pick up the red block";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The default <c>--time-scale</c> (the crowd phase): 1,000 robots' messages within what this 2-core machine carries (docs/benchmarks.md).</summary>
    public const double DefaultTimeScale = 50;

    /// <summary>The default <c>--scaleout-time-scale</c>: saturated small-fm silos' messages within the machine, phases of about a minute.</summary>
    public const double DefaultScaleoutTimeScale = 10;

    /// <summary>The phases <c>--only</c> picks from, in the order a full run takes them.</summary>
    public static readonly IReadOnlyList<string> Phases = ["scaleout", "crowd", "failover"];

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var command = "dotnet run -c Release --project bench/A1Fleet.Bench -- simfleet" + (args.Quick ? " --quick" : "") +
                      $" --time-scale {args.TimeScale.ToString(CultureInfo.InvariantCulture)} --scaleout-time-scale {args.ScaleoutTimeScale.ToString(CultureInfo.InvariantCulture)}" +
                      (args.Only is { } only ? $" --only {only}" : "");
        var sizes = args.Quick ? SimFleetSizes.Quick(args.ScaleoutTimeScale, args.TimeScale) : SimFleetSizes.Full(args.ScaleoutTimeScale, args.TimeScale);
        return await RunAsync(sizes, args.Quick, args.OutputDirectory, args.ModelsRoot, command, Console.Out, args.Only) is null ? BenchCommandLine.Failed : BenchCommandLine.Ok;
    }

    /// <summary>
    /// Runs every phase (or only <paramref name="only"/>: one of <see cref="Phases"/>), writes <c>simfleet.json</c> under
    /// <paramref name="outDirectory"/> and returns it (null when a phase failed).
    /// </summary>
    public static async Task<JsonObject?> RunAsync(SimFleetSizes sizes, bool quick, string outDirectory, string modelsRoot, string command, TextWriter log, string? only = null)
    {
        bool Runs(string phase) => only is null || string.Equals(only, phase, StringComparison.Ordinal);

        var started = Stopwatch.GetTimestamp();
        var packages = new[] { ScaleoutModel, CrowdModel }.Distinct().ToDictionary(m => m, m => ReferencePackages.Ensure(m, modelsRoot, log));
        var json = new JsonObject
        {
            ["command"] = command,
            ["quick"] = quick,
            ["machine"] = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}",
            ["started_at"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            ["load_average_at_start"] = LoadAverage(),
            ["scaleout_time_scale"] = sizes.ScaleoutTimeScale,
            ["crowd_time_scale"] = sizes.CrowdTimeScale,
            ["silos"] = sizes.Silos,
        };
        if (only is not null)
        {
            json["only"] = only;
        }

        var rows = new JsonArray();
        json["rows"] = rows;
        try
        {
            if (Runs("scaleout"))
            {
                var k = sizes.ScaleoutTimeScale;
                var scaleout = Spec.Of(packages[ScaleoutModel]);
                var pace = new RobotPace(scaleout.Chunk, ControlHz / k, BudgetMs * k);
                var (capacity, scaleoutPrices) = PriceDevice(packages[ScaleoutModel], k, outDirectory);
                var perSilo = (int)Math.Ceiling(sizes.SaturationFactor * capacity / pace.RequestsPerSecond);
                log.WriteLine($"simfleet{(quick ? " --quick" : "")}: scale-out at time scale {k} (device x{k}, cadence {pace.ControlHz:0.###} Hz, budget {pace.BudgetMs:0} ms); " +
                              $"{ScaleoutModel} full-depth capacity ~{capacity:0.00} req/s per silo (batch {CapacityBatch}, estimated here); {perSilo} robots per silo offer {sizes.SaturationFactor}x that");
                json["scaleout_model"] = ScaleoutModel;
                json["estimated_full_depth_capacity_per_silo"] = Math.Round(capacity, 3);
                json["robots_per_silo_scaleout"] = perSilo;

                PhaseCounts one;
                using (var fleet = await SimCluster.StartAsync(1, k, k, [packages[ScaleoutModel]], scaleoutPrices, log))
                {
                    one = await fleet.RunPhaseAsync("scaleout-1", perSilo, ScaleoutModel, scaleout, pace, sizes.ScaleoutWarmup * k, sizes.ScaleoutMeasure * k, log);
                    rows.Add(Row("scaleout", 1, perSilo, ScaleoutModel, k, pace, one, await fleet.CountersAsync()));
                }

                using (var fleet = await SimCluster.StartAsync(sizes.Silos, k, k, [packages[ScaleoutModel]], scaleoutPrices, log))
                {
                    var many = await fleet.RunPhaseAsync($"scaleout-{sizes.Silos}", perSilo * sizes.Silos, ScaleoutModel, scaleout, pace, sizes.ScaleoutWarmup * k, sizes.ScaleoutMeasure * k, log);
                    rows.Add(Row("scaleout", sizes.Silos, perSilo * sizes.Silos, ScaleoutModel, k, pace, many, await fleet.CountersAsync()));
                    json["goodput_per_second_1_silo"] = Round(one.GoodputPerSecond);
                    json["goodput_per_second_n_silos"] = Round(many.GoodputPerSecond);
                    // Named for the issue's 4 silos; "silos" says how many this run compared with one.
                    json["scaleout_efficiency_4_silos"] = Round(many.GoodputPerSecond / (sizes.Silos * one.GoodputPerSecond));
                }
            }

            if (Runs("crowd"))
            {
                var kc = sizes.CrowdTimeScale;
                var crowd = Spec.Of(packages[CrowdModel]);
                var crowdPace = new RobotPace(crowd.Chunk, ControlHz / kc, BudgetMs * kc);
                var crowdDevice = kc / sizes.CrowdSpeedup;
                var (crowdCapacity, crowdPrices) = PriceDevice(packages[CrowdModel], crowdDevice, outDirectory);
                log.WriteLine($"crowd at time scale {kc}, device {sizes.CrowdSpeedup}x this machine's engine: {sizes.CrowdRobots} robots ({CrowdModel}, chunk {crowd.Chunk}) offer " +
                              $"{sizes.CrowdRobots * crowdPace.RequestsPerSecond:0.0} req/s; full-depth capacity ~{crowdCapacity:0.0} req/s per silo (estimated here)");
                json["crowd_device_speedup"] = sizes.CrowdSpeedup;
                using (var fleet = await SimCluster.StartAsync(sizes.Silos, kc, crowdDevice, [packages[CrowdModel]], crowdPrices, log))
                {
                    var counts = await fleet.RunPhaseAsync("crowd", sizes.CrowdRobots, CrowdModel, crowd, crowdPace, sizes.CrowdWarmup * kc, sizes.CrowdMeasure * kc, log);
                    rows.Add(Row("crowd", sizes.Silos, sizes.CrowdRobots, CrowdModel, kc, crowdPace, counts, await fleet.CountersAsync()));
                    json["crowd_model"] = CrowdModel;
                    json["robots_simulated"] = sizes.CrowdRobots;
                    json["estimated_full_depth_capacity_per_silo_crowd"] = Math.Round(crowdCapacity, 3);
                    // Named for the issue's 1,000 robots; "robots_simulated" says how many this run drove.
                    json["within_budget_share_1000_robots_simulated"] = Round(counts.WithinBudgetShare);
                    json["answered_share_crowd"] = Round(counts.AnsweredShare);
                    json["p99_ms_crowd"] = Round(Stats.Percentile(counts.Latencies, 0.99));
                    json["offered_requests_per_second_crowd"] = Round(sizes.CrowdRobots * crowdPace.RequestsPerSecond);
                }
            }

            if (Runs("failover"))
            {
                // Failover: unscaled time, since membership's failure detection and the gateways' reconnects do not scale.
                var failover = Spec.Of(packages[FailoverModel]);
                var failoverPace = new RobotPace(failover.Chunk, ControlHz, BudgetMs);
                var failoverDevice = 1 / sizes.FailoverSpeedup;
                var (failoverCapacity, failoverPrices) = PriceDevice(packages[FailoverModel], failoverDevice, outDirectory);
                var failoverRobots = Math.Clamp((int)Math.Floor(0.6 * failoverCapacity / failoverPace.RequestsPerSecond), 4, sizes.FailoverRobots);
                log.WriteLine($"failover in real time, device {sizes.FailoverSpeedup}x this machine's engine: {FailoverModel} full-depth capacity ~{failoverCapacity:0.0} req/s per silo " +
                              $"(estimated here); {failoverRobots} robots offer {failoverRobots * failoverPace.RequestsPerSecond:0.0} req/s");
                json["failover_device_speedup"] = sizes.FailoverSpeedup;
                using (var fleet = await SimCluster.StartAsync(2, 1, failoverDevice, [packages[FailoverModel]], failoverPrices, log))
                {
                    var result = await fleet.RunFailoverAsync(failoverRobots, FailoverModel, failover, failoverPace, sizes.FailoverWarmup, sizes.FailoverWindow, log);
                    rows.Add(Row("failover", 2, failoverRobots, FailoverModel, 1, failoverPace, result.Counts, await fleet.CountersAsync()));
                    json["failover_model"] = FailoverModel;
                    json["failover_robots"] = failoverRobots;
                    json["failover_gap_ms_p99"] = Round(Stats.Percentile(result.GapsMs, 0.99));
                    json["failover_gap_ms_max"] = Round(result.GapsMs.Count == 0 ? double.NaN : result.GapsMs.Max());
                    json["failover_robots_with_a_gap"] = result.GapsMs.Count(g => g > 0);
                    json["failover_buffered_robots_at_kill"] = result.BufferedAtKill;
                    json["failover_holds_buffered_robots"] = result.BufferedThenEmpty;
                }
            }
        }
        catch (Exception e)
        {
            log.WriteLine($"simfleet failed: {e.GetType().Name}: {e.Message}");
            json["error"] = $"{e.GetType().Name}: {e.Message}";
            // The message alone does not say where; a failure in CI must be diagnosable from the JSON it leaves.
            json["error_detail"] = e.ToString();
            Write(json, outDirectory);
            return null;
        }

        json["load_average_at_end"] = LoadAverage();
        json["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
        PrintTable(json, log);
        Write(json, outDirectory);
        return json;
    }

    /// <summary>What a robot must send for a model: state size, cameras, chunk length, held-out observations.</summary>
    internal sealed record Spec(string ModelId, int StateDim, List<string> Cameras, int Chunk, List<ObservationSample> Samples)
    {
        public static Spec Of(string packageDirectory)
        {
            var package = ModelPackage.Open(packageDirectory);
            var m = package.Manifest;
            return new Spec(m.ModelId, m.State.Dim, [.. m.Cameras.Select(c => c.Name)], m.Action.Chunk, ReferencePackages.HeldOut(package));
        }
    }

    /// <summary>
    /// Prices the package's simulated device once, here (batch 1 and the engine's largest batch), into a file every silo
    /// of the phase is given (<c>A1Fleet:Inference:SimulatedPricesFile</c>): silos started one after another on a shared
    /// machine would each price their own device under different load, and the 1-silo and N-silo clusters compared
    /// different devices. Returns the file and the full-depth requests per second that device serves in batches of 16
    /// (times the time scale, one batch run on it).
    /// </summary>
    private static (double Capacity, string PricesFile) PriceDevice(string packageDirectory, double timeScale, string directory)
    {
        using var engine = A1Fleet.Engine.Inference.A1Engine.Load(packageDirectory, new A1Fleet.Engine.EngineOptions());
        var samples = ReferencePackages.HeldOut(engine.Package);
        var prices = new A1Fleet.Engine.Inference.ModelPrices(engine.MeasureParts(1, repetitions: 3), engine.MeasureParts(engine.MaxBatchSize, repetitions: 3));
        Directory.CreateDirectory(directory);
        var file = Path.GetFullPath(Path.Combine(directory, $"simulated-prices-{engine.ModelId}.json"));
        A1Fleet.Engine.Inference.SimulatedPrices.Write(file, new Dictionary<string, A1Fleet.Engine.Inference.ModelPrices> { [engine.ModelId] = prices });
        var device = new A1Fleet.Engine.Inference.SimulatedDevice(engine, Scale(prices.BatchOne, timeScale), Scale(prices.BatchMax, timeScale));
        var batch = Enumerable.Range(0, CapacityBatch).Select(i => new A1Fleet.Engine.Inference.InferenceRequest
        {
            Instruction = Instruction,
            State = samples[i % samples.Count].State,
            Images = samples[i % samples.Count].Images,
            Decode = A1Fleet.Engine.Inference.DecodeSettings.FullDepthK10 with { DenoisingSteps = 2 },
            Seed = (ulong)i,
        }).ToList();
        var t0 = Stopwatch.GetTimestamp();
        device.Run(batch);
        return (CapacityBatch / Stopwatch.GetElapsedTime(t0).TotalSeconds, file);
    }

    private static A1Fleet.Engine.Inference.PartTimings Scale(A1Fleet.Engine.Inference.PartTimings p, double k) => p with
    {
        PrefixMs = p.PrefixMs * k, LanguageModelLayerMs = p.LanguageModelLayerMs * k, MlpHeadMs = p.MlpHeadMs * k,
        ExpertSuffixMs = p.ExpertSuffixMs * k, ExpertLayerMs = p.ExpertLayerMs * k, ExpertOutputMs = p.ExpertOutputMs * k,
    };

    private static JsonObject Row(string phase, int silos, int robots, string model, double timeScale, RobotPace pace, PhaseCounts c, SiloCounters counters) => new()
    {
        ["phase"] = phase,
        ["time_scale"] = timeScale,
        ["silos"] = silos,
        ["robots"] = robots,
        ["model"] = model,
        ["control_hz"] = Round(pace.ControlHz),
        ["budget_ms"] = Round(pace.BudgetMs),
        ["offered_requests_per_second"] = Round(robots * pace.RequestsPerSecond),
        ["answered"] = c.Answered,
        ["within_budget"] = c.Within,
        ["refused"] = c.Refused,
        ["errors"] = c.Errors,
        ["holds"] = c.Holds,
        ["first_error"] = c.FirstError,
        ["refusals_by_reason"] = new JsonObject(c.RefusalReasons.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["within_budget_share"] = Round(c.WithinBudgetShare),
        ["answered_share"] = Round(c.AnsweredShare),
        ["goodput_per_second"] = Round(c.GoodputPerSecond),
        ["p50_ms"] = Round(Stats.Percentile(c.Latencies, 0.5)),
        ["p99_ms"] = Round(Stats.Percentile(c.Latencies, 0.99)),
        ["served_per_silo"] = new JsonArray([.. counters.ServedPerSilo.Select(n => (JsonNode)n)]),
        ["hedges"] = counters.Hedges,
        ["late_at_silos"] = counters.LateAtSilos,
    };

    private static void PrintTable(JsonObject json, TextWriter log)
    {
        log.WriteLine();
        log.WriteLine($"{"phase",-9} {"K",3} {"silos",5} {"robots",6} {"model",-9} {"Hz",6} {"budget",7} {"offered/s",9} {"answered",8} {"in budget",9} {"refused",7} {"errors",6} {"p50 ms",8} {"p99 ms",8} {"goodput/s",9}  served per silo, hedges, late at silos, refusals by reason");
        foreach (var row in json["rows"]!.AsArray())
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(string)row!["phase"]!,-9} {(double)row["time_scale"]!,3} {(int)row["silos"]!,5} {(int)row["robots"]!,6} {(string)row["model"]!,-9} {(double?)row["control_hz"],6:0.##} {(double?)row["budget_ms"],7:0} " +
                $"{(double?)row["offered_requests_per_second"],9:0.0} {(int)row["answered"]!,8} {(double?)row["within_budget_share"],9:P2} {(int)row["refused"]!,7} {(int)row["errors"]!,6} " +
                $"{(double?)row["p50_ms"],8:0.0} {(double?)row["p99_ms"],8:0.0} {(double?)row["goodput_per_second"],9:0.00}  {row["served_per_silo"]!.ToJsonString()} hedges {(long?)row["hedges"]} late {(long?)row["late_at_silos"]} {row["refusals_by_reason"]!.ToJsonString()}"));
        }

        log.WriteLine();
        foreach (var key in new[]
                 {
                     "scaleout_efficiency_4_silos", "within_budget_share_1000_robots_simulated", "failover_gap_ms_p99", "failover_holds_buffered_robots",
                     "failover_buffered_robots_at_kill", "failover_gap_ms_max", "load_average_at_start", "load_average_at_end",
                 })
        {
            if (json.ContainsKey(key))
            {
                log.WriteLine($"{key} = {json[key]?.ToJsonString()}");
            }
        }
    }

    private static void Write(JsonObject json, string outDirectory)
    {
        Directory.CreateDirectory(outDirectory);
        File.WriteAllText(Path.Combine(outDirectory, "simfleet.json"), json.ToJsonString(Indented));
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static List<long> Subtract(List<long> after, List<long> before) => [.. after.Select((n, i) => n - (i < before.Count ? before[i] : 0))];

    internal static double? Round(double value) => double.IsFinite(value) ? Math.Round(value, 4) : null;

    /// <summary>Calls to every gateway of a cluster, the agent's kind (round-robin, a failed gateway left out and the call sent on at once).</summary>
    internal static List<GatewayCallInvoker> Channels(IEnumerable<string> gateways, int count)
    {
        var addresses = gateways.Select(g => new Uri(g)).ToList();
        return [.. Enumerable.Range(0, count).Select(_ => GatewayChannel.CreateInvoker(addresses, TimeProvider.System))];
    }

    internal static P.RobotGateway.RobotGatewayClient Client(CallInvoker channel) => new(channel);
}
