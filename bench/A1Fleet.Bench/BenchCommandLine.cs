using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using A1Fleet.Bench.Policy;
using A1Fleet.EarlyExit;

namespace A1Fleet.Bench;

/// <summary>
/// The bench's command line on System.CommandLine: one command per scenario (engine, fleet, reliability, simfleet,
/// policy, demonstrations) with the flags docs/benchmarks.md documents, generated help, and unknown options or bad values
/// refused before a scenario starts (exit 2, naming the option). Exit codes: 0 done, 1 a scenario failed, 2 bad
/// command line.
/// </summary>
internal static class BenchCommandLine
{
    public const int Ok = 0, Failed = 1, Usage = 2;

    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    /// <summary>Parses; on success runs the scenario with <paramref name="run"/> (given the scenario's name, its flags and, for engine, fleet, reliability and simfleet, <see cref="BenchArgs"/>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string, ParseResult, BenchArgs?, Task<int>> run)
    {
        var parsed = Create(run).Parse(args, Parsing);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                await error.WriteLineAsync($"bench: {problem.Message}");
            }

            var command = parsed.CommandResult.Command;
            await error.WriteLineAsync($"bench: see dotnet run -c Release --project bench/A1Fleet.Bench -- {(command is RootCommand ? "" : command.Name + " ")}--help");
            return Usage;
        }

        try
        {
            // The scenarios take no token: Ctrl-C ends the process (Program.cs).
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            await error.WriteLineAsync($"bench: {parsed.CommandResult.Command.Name} failed: {ex.GetType().Name}: {ex.Message}");
            return Failed;
        }
    }

    /// <summary>The command tree (tests parse the documented invocations against it).</summary>
    internal static RootCommand Create(Func<string, ParseResult, BenchArgs?, Task<int>> run)
    {
        var quick = new Option<bool>("--quick") { Description = "shorter phases and fewer sizes (a smoke run; figures are noisier)" };
        var outDirectory = new Option<string>("--out") { Description = "where the JSON results go", HelpName = "DIR", DefaultValueFactory = _ => BenchArgs.DefaultOutputDirectory };
        var modelsRoot = new Option<string>("--models-root") { Description = "where reference model packages are built and found", HelpName = "DIR", DefaultValueFactory = _ => BenchArgs.DefaultModelsRoot };
        var model = new Option<string>("--model") { Description = "the reference model measured", HelpName = "MODEL", DefaultValueFactory = _ => "small-fm" };
        var batch = Positive("--batch", "engine batch size", "N", 8);
        var models = new Option<string?>("--models") { Description = "models the fleet serves, comma-separated (default tiny-fm,small-fm; --model is added)", HelpName = "M1,M2" };
        var loadOnly = new Option<bool>("--load-only") { Description = "only the fleet-under-load section" };
        var device = new Option<string>("--device") { Description = "engine (the real engine) or simulated (a simulated device with the engine's timing)", HelpName = "engine|simulated", DefaultValueFactory = _ => "engine" };
        device.CustomParser = r => r.Tokens[0].Value.ToLowerInvariant() is "engine" or "simulated" ? r.Tokens[0].Value.ToLowerInvariant() : Error(r, $"--device {r.Tokens[0].Value}: use engine or simulated", "engine");

        var executionProvider = new Option<string>("--execution-provider")
        {
            Description = "engine and fleet: the engines' ONNX Runtime provider, the fleet bench's silo included (cuda needs the GPU build: docs/gpu.md)",
            HelpName = "cpu|cuda",
            DefaultValueFactory = _ => "cpu",
        };
        executionProvider.CustomParser = r => r.Tokens[0].Value.ToLowerInvariant() is "cpu" or "cuda" ? r.Tokens[0].Value.ToLowerInvariant()
            : Error(r, $"--execution-provider {r.Tokens[0].Value}: use cpu or cuda", "cpu");

        BenchArgs Args(ParseResult p) => new(p.GetValue(quick), p.GetValue(model) ?? "small-fm", p.GetValue(batch) ?? 8, p.GetValue(outDirectory)!, p.GetValue(modelsRoot)!,
            p.GetValue(models), p.GetValue(loadOnly), p.GetValue(device) == "simulated", ExecutionProvider: p.GetValue(executionProvider) ?? "cpu");

        var engine = new Command("engine", "the engine alone: latency and throughput per batch size and exit depth (docs/benchmarks.md)") { quick, model, batch, executionProvider, outDirectory, modelsRoot };
        engine.SetAction(p => run("engine", p, Args(p)));
        var fleetTimeScale = TimeScale("--time-scale", "fleet, with --device simulated: the load section runs this many times slower: simulated device, cadence, budgets, phases", 1);
        var deviceSpeedup = new Option<double>("--device-speedup")
        {
            Description = "fleet, with --load-only --device simulated: the simulated device runs this many times faster than the engine measured here, the robots' cadence and budgets unchanged (default 1)",
            HelpName = "S",
            DefaultValueFactory = _ => 1,
        };
        deviceSpeedup.CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s is >= 1 and <= 100 ? s
            : Error(r, $"--device-speedup {r.Tokens[0].Value}: must be a number within 1..100", 1.0);
        var intraOpThreads = new Option<int>("--intra-op-threads")
        {
            Description = "fleet: ONNX Runtime's intra-op threads for every engine in the run, the silo's included (default 0: the silo's default, A1Fleet:Inference:Engine:IntraOpThreads)",
            HelpName = "N",
            DefaultValueFactory = _ => 0,
        };
        intraOpThreads.CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= 1024 ? n
            : Error(r, $"--intra-op-threads {r.Tokens[0].Value}: must be a whole number within 0..1024", 0);
        var fleet = new Command("fleet", "a fleet in process: robots per silo, budgets, the load section, compatible protocols")
        {
            quick, model, models, loadOnly, device, fleetTimeScale, deviceSpeedup, intraOpThreads, executionProvider, outDirectory, modelsRoot,
        };
        fleet.Validators.Add(r =>
        {
            // From the tokens, not the values: a value read here runs the options' parsers before their defaults apply.
            var simulated = r.GetResult(device) is { Implicit: false, Tokens: [var d] } && string.Equals(d.Value, "simulated", StringComparison.OrdinalIgnoreCase);
            if (r.GetResult(fleetTimeScale) is { Implicit: false } && (!simulated || r.GetResult(loadOnly) is null or { Implicit: true }))
            {
                r.AddError("--time-scale applies to --load-only --device simulated only (the real engine's time does not scale)");
            }

            if (r.GetResult(deviceSpeedup) is { Implicit: false } && (!simulated || r.GetResult(loadOnly) is null or { Implicit: true }))
            {
                r.AddError("--device-speedup applies to --load-only --device simulated only (the real engine runs at this machine's speed)");
            }
        });
        fleet.SetAction(p => run("fleet", p, Args(p) with { TimeScale = p.GetValue(fleetTimeScale), DeviceSpeedup = p.GetValue(deviceSpeedup), IntraOpThreads = p.GetValue(intraOpThreads) }));
        var timeScale = TimeScale("--time-scale", "simfleet: the crowd phase (1,000 robots) runs this many times slower: simulated device, cadence, budgets", SimFleet.SimFleetBenchmark.DefaultTimeScale);
        var scaleoutTimeScale = TimeScale("--scaleout-time-scale", "simfleet: the same for the scale-out phases", SimFleet.SimFleetBenchmark.DefaultScaleoutTimeScale);
        var only = new Option<string?>("--only") { Description = "simfleet: run one phase only (the others' keys are left out of the JSON)", HelpName = "scaleout|crowd|failover" };
        only.CustomParser = r => SimFleet.SimFleetBenchmark.Phases.Contains(r.Tokens[0].Value.ToLowerInvariant())
            ? r.Tokens[0].Value.ToLowerInvariant()
            : Error<string?>(r, $"--only {r.Tokens[0].Value}: use {string.Join(", ", SimFleet.SimFleetBenchmark.Phases)}", null);
        var simfleet = new Command("simfleet", "silo processes on the simulated device, robots through the gateway: scale-out, 1,000 robots, silo failover")
        {
            quick, timeScale, scaleoutTimeScale, only, outDirectory, modelsRoot,
        };
        simfleet.SetAction(p => run("simfleet", p, Args(p) with { TimeScale = p.GetValue(timeScale), ScaleoutTimeScale = p.GetValue(scaleoutTimeScale), Only = p.GetValue(only) }));
        var reliability = new Command("reliability", "identity, fuzz, e-stops through failover, recovery: redis, silos and agents as real processes") { quick, outDirectory };
        reliability.SetAction(p => run("reliability", p, Args(p)));

        var mlp = new Option<string?>("--mlp") { Description = $"the MLP package evaluated (default {PolicyArgs.DefaultMlp})", HelpName = "PKG" };
        var fm = new Option<string?>("--fm") { Description = $"the flow-matching package evaluated (default {PolicyArgs.DefaultFm})", HelpName = "PKG" };
        var episodes = Positive("--episodes", $"episodes per configuration (default {PolicyArgs.DefaultEpisodes}: enough to judge a 5-point difference; --quick 20)", "N", null);
        var calibrationEpisodes = Positive("--calibration-episodes", "training-seed episodes the thresholds are calibrated on (default 40; --quick 8)", "N", null);
        var executeSteps = Positive("--execute-steps", "steps of each chunk executed before the next request (default: all of it)", "N", null);
        var parity = new Option<string?>("--parity") { Description = "torch-vs-engine parity file read into the results (default artifacts/bench/parity.json)", HelpName = "FILE" };
        var forbidFirstExit = new Option<bool>("--forbid-first-exit") { Description = "calibrate with p_1 = 0 (A1's recipe for its 7B/8B models): no request exits at the first exit" };
        var policy = new Command("policy", "a model package in closed loop on the simulator's tabletop task (docs/policy.md)")
        {
            quick, mlp, fm, episodes, calibrationEpisodes, executeSteps, parity, forbidFirstExit, outDirectory, modelsRoot,
        };
        policy.SetAction(p => run("policy", p, null));

        var demonstrationEpisodes = Positive("--episodes", "solved episodes recorded (default 40)", "N", null);
        var imageSize = Positive("--image-size", "camera image side in pixels (default 64)", "N", null);
        var firstSeed = new Option<int?>("--first-seed") { Description = "the first seed tried (default 0)", HelpName = "N" };
        firstSeed.CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : Error<int?>(r, $"--first-seed {r.Tokens[0].Value}: must be a non-negative whole number", null);
        var demonstrationsOut = new Option<string?>("--out") { Description = "the training folder (default artifacts/training-data/tabletop-franka-N); the LeRobot dataset goes to DIR/lerobot", HelpName = "DIR" };
        var dagger = new Option<string?>("--dagger") { Description = "also record DAgger corrections: this package drives, a labelling expert says what it would command", HelpName = "PKG" };
        var daggerEpisodes = Positive("--dagger-episodes", "episodes the --dagger package drives (default: --episodes)", "M", null);
        var everyBlock = new Option<bool>("--every-block") { Description = "record each seed's scene once per block, the instruction naming each in turn (contrastive demonstrations)" };
        var demonstrations = new Command("demonstrations", "the scripted expert's solved tabletop episodes as a LeRobot dataset and a numpy training folder")
        {
            demonstrationEpisodes, imageSize, firstSeed, demonstrationsOut, everyBlock, dagger, daggerEpisodes,
        };
        demonstrations.SetAction(p => run("demonstrations", p, null));

        var package = new Option<string?>("--package") { Description = $"the package run (default {PolicyArgs.DefaultMlp})", HelpName = "PKG" };
        var episodesFirstSeed = new Option<int?>("--first-seed") { Description = "the first seed (default: the evaluation seeds)", HelpName = "N" };
        episodesFirstSeed.CustomParser = firstSeed.CustomParser;
        var maxLayer = new Option<int?>("--max-layer")
        {
            Description = "stop every request at this LM layer (0-based, snapped down to an exit) instead of the last: what a fixed early exit costs (default: full depth)",
            HelpName = "L",
        };
        maxLayer.CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : Error<int?>(r, $"--max-layer {r.Tokens[0].Value}: must be a non-negative whole number", null);
        var decodingNames = Decodings.All.Select(Decodings.Name).ToList();
        var decoding = new Option<string?>("--decoding")
        {
            Description = "FM: decode every request this way; an early-exit decoding runs the head at every exit and takes no exit before the last, "
                          + $"what its chain gives on its own (default {Decodings.Name(Decoding.FullK10)})",
            HelpName = string.Join("|", decodingNames),
        };
        decoding.CustomParser = r => Decodings.TryParse(r.Tokens[0].Value, out var d)
            ? Decodings.Name(d)
            : Error<string?>(r, $"--decoding {r.Tokens[0].Value}: use {string.Join(", ", decodingNames)}", null);
        var policyEpisodes = new Command("policy-episodes", "one package at full depth (or a fixed exit) in closed loop, one line per episode saying why it failed (docs/policy.md)")
        {
            package, episodesFirstSeed, Positive("--episodes", "episodes (default 30)", "N", null), Positive("--execute-steps", "steps of each chunk executed (default: all)", "N", null), maxLayer,
            decoding,
        };
        policyEpisodes.SetAction(p => run("policy-episodes", p, null));

        return new RootCommand("A1Fleet.Bench: dotnet run -c Release --project bench/A1Fleet.Bench -- SCENARIO [--quick] ...; results as JSON under --out " +
                               "(docs/benchmarks.md). Exit codes: 0 done, 1 a scenario failed, 2 bad command line.")
        {
            engine, fleet, reliability, simfleet, policy, policyEpisodes, demonstrations,
        };
    }

    private static Option<int?> Positive(string name, string description, string helpName, int? fallback)
    {
        var option = new Option<int?>(name) { Description = description, HelpName = helpName };
        if (fallback is { } value)
        {
            option.DefaultValueFactory = _ => value;
        }

        option.CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : Error<int?>(r, $"{name} {r.Tokens[0].Value}: must be a positive whole number", null);
        return option;
    }

    private static Option<double> TimeScale(string name, string description, double fallback)
    {
        var option = new Option<double>(name) { Description = $"{description} (default {fallback.ToString(CultureInfo.InvariantCulture)}; 1 = real time)", HelpName = "K", DefaultValueFactory = _ => fallback };
        option.CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var k) && k is >= 1 and <= 1000 ? k
            : Error(r, $"{name} {r.Tokens[0].Value}: must be a number within 1..1000", fallback);
        return option;
    }

    private static T Error<T>(ArgumentResult result, string message, T fallback)
    {
        result.AddError(message);
        return fallback;
    }
}
