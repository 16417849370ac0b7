using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using A1Fleet.Grains;
using A1Fleet.Grains.Fleet;
using A1Fleet.Grains.Hosting;
using A1Fleet.Grains.Robots;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.RobotAgent;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using A1Fleet.Silo.Api;
using A1Fleet.Silo.Hosting;
using A1Fleet.Silo.RobotGateway;
using A1Fleet.Silo.Security;
using Microsoft.Extensions.Options;

namespace A1Fleet.Demo;

/// <summary>
/// The whole fleet on one machine: a GPU-marked silo (localhost clustering, memory storage) serving the shipped
/// trained Franka tabletop policy (models/trained/franka-tabletop-fm) to the Franka arms and the reference model
/// small-fm to the others (or one model to all with --model), simulated arms of all four kinds bound to their robot
/// grains, tasks assigned through the fleet grain, and a live view. The Franka arms run the simulator's tabletop task
/// in episodes (each Franka arm is assigned one of the family's instructions; the simulated world decides success)
/// and report episodes and successes to their robot grains; the live view shows them per robot. The arms reach the fleet as real robots do: through the
/// silo's authenticated robot gateway (gRPC on loopback), each with a robot credential the demo issues for it
/// in the fleet's credential store, and revokes when it ends. The operator API and /metrics are served as
/// by a production silo, so a1ctl and Prometheus work against the demo too. With <c>--record DIR</c> the
/// arms record their episodes as LeRobot datasets (one per model and embodiment) to calibrate on.
/// </summary>
internal static class FleetDemo
{
    /// <summary>The robot gateway's port unless --A1Fleet:RobotGateway:Port says otherwise: fleet-local's first silo uses it too.</summary>
    private const int DefaultRobotGatewayPort = 8445;

    /// <summary>The compatible endpoints' ports unless configured otherwise: openpi's own default, and A1's deploy server's.</summary>
    private const int DefaultOpenPiPort = 8000, DefaultA1HttpPort = 6789;

    private static readonly Embodiment[] Kinds = [Embodiment.Franka, Embodiment.AgiBot, Embodiment.OpenArm, Embodiment.Dobot];

    /// <summary>The Franka arms' default model: the shipped trained tabletop policy (FM head: the paper's warm-start decoding).</summary>
    public const string TrainedModel = "franka-tabletop-fm";

    /// <summary>The other arms' default model: a reference model (random weights; no trained policy exists for their bodies).</summary>
    public const string ReferenceModel = "small-fm";

    /// <summary>Where the shipped trained packages are, relative to the repository root (the demo's working directory).</summary>
    public static readonly string TrainedRoot = Path.Combine("models", "trained");

    /// <summary>
    /// The Franka arms' tasks, one per arm in turn: instructions of the tabletop family, so that their episodes are judged
    /// by the simulated world (an operator can assign any other instruction of the family with a1ctl assign).
    /// </summary>
    private static readonly string[] FrankaTasks =
    [
        "touch the red block",
        "push the blue block to the left",
        "push the green block to the right",
        "touch the yellow block",
        "push the purple block to the left",
        "touch the blue block",
    ];

    private static readonly Dictionary<Embodiment, string> Tasks = new()
    {
        [Embodiment.AgiBot] = "pick up the red block",
        [Embodiment.OpenArm] = "open the drawer",
        [Embodiment.Dobot] = "push the blue block to the left",
    };

    public static async Task<int> RunAsync(string[] args)
    {
        if (!int.TryParse(Option(args, "--agents") ?? "8", NumberStyles.Integer, CultureInfo.InvariantCulture, out var agents))
        {
            Console.Error.WriteLine($"--agents '{Option(args, "--agents")}' is not a whole number");
            return 2;
        }

        TimeSpan? duration = null;
        if (Option(args, "--duration") is { } d)
        {
            if (!double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out var durationSeconds) || !(durationSeconds > 0))
            {
                Console.Error.WriteLine($"--duration '{d}' must be a positive number of seconds");
                return 2;
            }

            duration = TimeSpan.FromSeconds(durationSeconds);
        }

        // One model for every arm when given (a reference preset, e.g. tiny-fm for quick runs, or a trained package's name).
        var model = Option(args, "--model");
        var urls = Option(args, "--urls") ?? "http://127.0.0.1:8080";
        var modelsRoot = Option(args, "--models") ?? Path.Combine("artifacts", "models");
        var recording = new EpisodeRecordingOptions { Directory = Option(args, "--record") };
        if (Option(args, "--record-episode-seconds") is { } episodeSeconds)
        {
            if (!double.TryParse(episodeSeconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                Console.Error.WriteLine($"--record-episode-seconds '{episodeSeconds}' is not a number of seconds");
                return 2;
            }

            recording.MaxEpisodeSeconds = seconds;
        }

        var recordingErrors = new EpisodeRecordingOptionsValidator().Validate(null, recording);
        if (recordingErrors.Failed)
        {
            Console.Error.WriteLine(recordingErrors.FailureMessage);
            return 2;
        }

        if (agents is < 1 or > 256)
        {
            Console.Error.WriteLine($"--agents {agents} must be within 1..256");
            return 2;
        }

        var kinds = Enumerable.Range(0, agents).Select(i => Kinds[i % Kinds.Length]).ToList();
        string ModelOf(Embodiment kind) => model ?? (kind == Embodiment.Franka ? TrainedModel : ReferenceModel);
        var models = kinds.Select(ModelOf).Distinct().ToList();
        Console.WriteLine($"A1Fleet demo: {agents} simulated arms, model{(models.Count > 1 ? "s" : "")} {string.Join(", ", kinds.Distinct().Select(k => $"{ModelOf(k)} ({k})"))}, " +
                          $"operator API and /metrics on {urls}");
        var packages = new List<string>(models.Count);
        foreach (var name in models)
        {
            if (ResolvePackage(name, modelsRoot) is not { } resolved)
            {
                return 2;
            }

            packages.Add(resolved);
        }

        var package = packages[0];
        var builder = WebApplication.CreateBuilder([
            "--urls", urls,
            "--A1Fleet:Silo:Clustering", "localhost",
            "--A1Fleet:Silo:Storage", "memory",
            "--A1Fleet:Silo:Gpu", "true",
            .. packages.SelectMany((p, i) => new[] { $"--A1Fleet:Inference:ModelPackages:{i}", p }),
            "--A1Fleet:RobotGateway:Port", DefaultRobotGatewayPort.ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Compat:OpenPiPort", DefaultOpenPiPort.ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Compat:A1HttpPort", DefaultA1HttpPort.ToString(CultureInfo.InvariantCulture),
            // Last, so settings given on the command line win.
            .. PassThrough(args),
        ]);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Start-up advice (server GC, a slow first watchdog tick on a busy 2-core machine) is not news here.
        builder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
        builder.Logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
        // The operator API refuses calls without a key: the demo provisions an admin key unless one is configured.
        var adminKey = builder.Configuration[$"{SecurityOptions.SectionName}:{nameof(SecurityOptions.BootstrapAdminKey)}"];
        var generatedKey = string.IsNullOrWhiteSpace(adminKey) && string.IsNullOrWhiteSpace(builder.Configuration[$"{SecurityOptions.SectionName}:{nameof(SecurityOptions.BootstrapAdminKeyFile)}"]);
        if (generatedKey)
        {
            adminKey = CredentialKeys.Generate(CredentialKind.ApiKey).Key;
            builder.Configuration[$"{SecurityOptions.SectionName}:{nameof(SecurityOptions.BootstrapAdminKey)}"] = adminKey;
        }

        builder.AddA1FleetSilo();
        await using var app = builder.Build();
        app.MapA1FleetEndpoints();

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        // Containers and process managers stop with SIGTERM: shut down as cleanly as on Ctrl-C.
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        await app.StartAsync(stop.Token);
        var keyHint = "the configured A1Fleet:Security bootstrap key";
        if (generatedKey)
        {
            // Written to a file only its owner reads, since the live view clears the screen; the silo keeps only its hash.
            var keyFile = Path.GetFullPath(Path.Combine("artifacts", "demo-admin-key"));
            Directory.CreateDirectory(Path.GetDirectoryName(keyFile)!);
            File.WriteAllText(keyFile, adminKey + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            keyHint = $"$(cat {keyFile})";
        }

        var ctlLine = $"a1ctl: A1FLEET_API_KEY={keyHint} dotnet run --project operator-cli/A1Fleet.Operator -- --url {urls.Split(';')[0]} robots";
        Console.WriteLine(ctlLine);
        Console.WriteLine($"openpi clients: ws://127.0.0.1:{builder.Configuration["A1Fleet:Compat:OpenPiPort"]}, A1 clients: http://ROBOT:CREDENTIAL@127.0.0.1:{builder.Configuration["A1Fleet:Compat:A1HttpPort"]} " +
                          "(a robot credential and a compat profile per robot: docs/compatible-protocols.md)");
        await app.Services.GetRequiredService<ModelRegistrationStartup>().Ready.WaitAsync(stop.Token);
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        using var batches = new BatchSizeListener();
        var recorder = new EpisodeRecorder(Options.Create(recording), app.Services.GetRequiredService<ILogger<EpisodeRecorder>>());
        if (recorder.Enabled)
        {
            Console.WriteLine($"recording episodes into {recorder.Root}");
        }

        var arms = kinds.Select((kind, i) => new AgentOptions
        {
            RobotId = $"{kind.ToString().ToLowerInvariant()}-{(i / Kinds.Length) + 1:00}",
            Embodiment = kind,
            ModelId = ModelOf(kind),
            Tags = [$"cell-{(i % 2) + 1}"],
            // The tabletop task is the Franka's: the trained policy's body, and the one its demonstrations were recorded on.
            SimulatedTask = kind == Embodiment.Franka ? SimulatedTask.Tabletop : SimulatedTask.None,
        }).ToList();

        // Each arm gets a credential for its own robot, issued as an operator's POST /api/robots/{id}/credentials does.
        var credentials = new List<CreatedCredential>(arms.Count);
        foreach (var arm in arms)
        {
            credentials.Add(await RobotCredentials.IssueAsync(grains, TimeProvider.System, arm.RobotId, "demo", "demo"));
        }

        var gateway = GatewayAddress(app.Services.GetRequiredService<IOptions<RobotGatewayOptions>>().Value);
        using var channel = GatewayChannel.Create([gateway]);
        var gatewayLine = $"robot gateway: {gateway.GetLeftPart(UriPartial.Authority)} (gRPC), {arms.Count} arms each with its own robot credential";
        var runners = arms.Select((arm, i) => new RobotAgentRunner(
            new GatewayChunkSourceFactory(channel.CreateCallInvoker(), credentials[i].Key, TimeProvider.System),
            Options.Create(arm), TimeProvider.System, app.Services.GetRequiredService<ILogger<RobotAgentRunner>>(), recorder: recorder)).ToList();
        var running = runners.Select(r => RunAgentAsync(r, stop.Token)).ToList();

        var fleet = grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default);
        await WaitForBindsAsync(fleet, agents, stop.Token);
        foreach (var kind in Kinds.Where(k => k != Embodiment.Franka))
        {
            await fleet.Assign(new RobotSelector(RobotSelectorKind.Embodiment, kind.ToString()), Tasks[kind], "demo");
        }

        foreach (var (arm, i) in arms.Where(a => a.Embodiment == Embodiment.Franka).Select((a, i) => (a, i)))
        {
            await fleet.Assign(new RobotSelector(RobotSelectorKind.Robot, arm.RobotId), FrankaTasks[i % FrankaTasks.Length], "demo");
        }

        // The duration counts from here, with every arm bound and tasked: a slow start (a busy machine loading models and
        // starting the silo) must neither eat it nor be cancelled by it.
        if (duration is { } limit)
        {
            stop.CancelAfter(limit);
        }

        await LiveViewAsync(fleet, runners, batches, ctlLine + Environment.NewLine + gatewayLine, stop.Token);
        await Task.WhenAll(running);
        await RevokeAsync(grains, credentials);
        var final = await fleet.ListRobots(RobotSelector.All);
        PrintSummary(final, runners);

        // The agents have closed their last episodes: write what is queued and release the datasets.
        await recorder.DisposeAsync();
        PrintRecording(recorder, package);

        // The agents have stopped: their robots are given back, which writes each robot's state with its last counters
        // now. Robot grains stay active to the end, and a write left for the silo's shutdown (the counter flush) meets a
        // memory store that is already gone, which Orleans logs as a failure with a stack trace. Waiting a flush
        // interval for the timers instead lost that race on a loaded machine; once given back, nothing dirties them.
        await UnbindAsync(grains, final);
        Console.WriteLine("stopping");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    /// <summary>
    /// The package folder of <paramref name="name"/>: a shipped trained package (models/trained/NAME, relative to the
    /// working directory: run from the repository root) or a reference preset built into <paramref name="modelsRoot"/>
    /// on first use, with its calibrated threshold sets. Null (after saying why) when it is neither.
    /// </summary>
    private static string? ResolvePackage(string name, string modelsRoot)
    {
        var trained = Path.GetFullPath(Path.Combine(TrainedRoot, name));
        if (File.Exists(Path.Combine(trained, "model.json")))
        {
            if (!Directory.Exists(Path.Combine(trained, "thresholds")))
            {
                Console.Error.WriteLine($"warning: {trained} has no thresholds folder: every request runs at full depth (calibrate it: docs/calibration.md)");
            }

            return trained;
        }

        if (ReferenceModelPresets.Names.Contains(name, StringComparer.Ordinal))
        {
            return ReferencePackages.Ensure(name, modelsRoot, Console.Out);
        }

        Console.Error.WriteLine($"--model {name}: neither a trained package ({trained}/model.json; run the demo from the repository root) " +
                                $"nor a reference model ({string.Join(", ", ReferenceModelPresets.Names)})");
        return null;
    }

    /// <summary>Where the demo's arms reach the gateway: loopback when it listens on every interface.</summary>
    private static Uri GatewayAddress(RobotGatewayOptions options)
    {
        var address = System.Net.IPAddress.Parse(options.BindAddress);
        if (address.Equals(System.Net.IPAddress.Any))
        {
            address = System.Net.IPAddress.Loopback;
        }
        else if (address.Equals(System.Net.IPAddress.IPv6Any))
        {
            address = System.Net.IPAddress.IPv6Loopback;
        }

        var scheme = string.IsNullOrEmpty(options.CertificatePath) ? "http" : "https";
        var port = options.Port ?? throw new InvalidOperationException($"{RobotGatewayOptions.SectionName}:Port is unset: the demo's arms need the robot gateway");
        return new UriBuilder(scheme, address.ToString(), port).Uri;
    }

    /// <summary>Gives back the robots the demo's stopped agents still hold (each write carries the robot's last counters).</summary>
    private static async Task UnbindAsync(IGrainFactory grains, IReadOnlyList<RobotStatus> robots)
    {
        foreach (var robot in robots.Where(r => r.AgentId is not null))
        {
            await grains.GetGrain<IRobotGrain>(robot.RobotId).Unbind(robot.Epoch, robot.AgentId!);
        }
    }

    /// <summary>The demo's credentials end with it, so a persistent store (--A1Fleet:Silo:Storage redis) keeps no live demo keys.</summary>
    private static async Task RevokeAsync(IGrainFactory grains, List<CreatedCredential> credentials)
    {
        var directory = grains.GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default);
        try
        {
            foreach (var credential in credentials)
            {
                await directory.Revoke(credential.Id, "demo");
            }
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"revoking the demo's robot credentials failed: {ex.Message}");
        }
    }

    /// <summary>One arm failing must not take the fleet down with it: report it and let the others run.</summary>
    private static async Task RunAgentAsync(RobotAgentRunner runner, CancellationToken ct)
    {
        try
        {
            await runner.RunAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Even while stopping: the summary and the recordings of the other arms are still wanted.
            Console.Error.WriteLine($"agent {runner.RobotId} stopped: {ex}");
        }
    }

    private static async Task WaitForBindsAsync(IFleetGrain fleet, int agents, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested && (await fleet.ListRobots(RobotSelector.All)).Count < agents)
        {
            await Task.Delay(100, ct);
        }
    }

    private static async Task LiveViewAsync(IFleetGrain fleet, List<RobotAgentRunner> runners, BatchSizeListener batches, string ctlLine, CancellationToken ct)
    {
        var interactive = !Console.IsOutputRedirected;
        var interval = TimeSpan.FromSeconds(interactive ? 1 : 5);
        var started = Stopwatch.GetTimestamp();
        long lastChunks = 0;
        var last = Stopwatch.GetTimestamp();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var robots = await fleet.ListRobots(RobotSelector.All);
            var now = Stopwatch.GetTimestamp();
            var chunks = robots.Sum(r => r.Counters.Chunks);
            var rate = (chunks - lastChunks) / Stopwatch.GetElapsedTime(last, now).TotalSeconds;
            (lastChunks, last) = (chunks, now);
            if (interactive)
            {
                Console.Clear();
            }

            Console.WriteLine($"A1Fleet demo — {Stopwatch.GetElapsedTime(started):hh\\:mm\\:ss}  requests/s {rate:F1}  mean batch {batches.TakeMean():F2}  (Ctrl-C to stop)");
            Console.WriteLine(ctlLine);
            WriteTable(robots, runners);
        }
    }

    private static void WriteTable(IReadOnlyList<RobotStatus> robots, List<RobotAgentRunner> runners)
    {
        var agents = runners.Select(r => r.Snapshot()).ToDictionary(s => s.RobotId);
        Console.WriteLine($"{"robot",-12} {"kind",-8} {"task",-34} {"episodes",8} {"success",7} {"rate",6} {"chunks",6} {"exit",5} {"p50 ms",7} {"p99 ms",7} {"misses",6} {"holds",6} {"idle gaps",9} {"max jump",8} {"max step",8} {"slowed",6} {"ramped",6}");
        foreach (var r in robots)
        {
            agents.TryGetValue(r.RobotId, out var a);
            var task = r.EStopped ? "E-STOP" : r.Task?.Instruction ?? "-";
            // Episodes and successes as the agent reported them to its robot grain (the simulated world's decisions).
            var rate = r.Counters.SuccessRate is { } share ? share.ToString("P0", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine($"{r.RobotId,-12} {r.Embodiment,-8} {Trim(task, 34),-34} {r.Counters.Episodes,8} {r.Counters.Successes,7} {rate,6} {r.Counters.Chunks,6} {r.Counters.MeanExitLayer,5:F2} " +
                              $"{r.Counters.P50LatencyMs,7:F1} {r.Counters.P99LatencyMs,7:F1} " +
                              $"{r.Counters.BudgetMisses,6} {a?.HoldTicks ?? 0,6} {a?.IdleGaps ?? 0,9} {a?.MaxSpliceJump ?? 0,8:F4} {a?.MaxCommandStep ?? 0,8:F4} {a?.SlowedTicks ?? 0,6} {a?.RampedTicks ?? 0,6}");
        }
    }

    private static void PrintSummary(IReadOnlyList<RobotStatus> robots, List<RobotAgentRunner> runners)
    {
        Console.WriteLine();
        Console.WriteLine("final:");
        WriteTable(robots, runners);
        var chunks = robots.Sum(r => r.Counters.Chunks);
        var misses = robots.Sum(r => r.Counters.BudgetMisses);
        Console.WriteLine($"{chunks} chunks served, {misses} budget misses ({(chunks == 0 ? 0 : (double)misses / chunks):P2}), " +
                          $"mean exit layer {(chunks == 0 ? 0 : robots.Sum(r => r.Counters.MeanExitLayer * r.Counters.Chunks) / chunks):F2}");
        var episodes = robots.Sum(r => r.Counters.Episodes);
        if (episodes > 0)
        {
            var successes = robots.Sum(r => r.Counters.Successes);
            Console.WriteLine($"{episodes} tabletop episodes, {successes} successes ({(double)successes / episodes:P1}), as the simulated world judged them " +
                              "(as the arms last reported them: every 5 s)");
        }
    }

    private static void PrintRecording(EpisodeRecorder recorder, string package)
    {
        if (!recorder.Enabled)
        {
            return;
        }

        var summary = recorder.Summary();
        Console.WriteLine($"recorded {summary.EpisodesWritten} episodes ({summary.FramesWritten} frames); {summary.EpisodesDropped} too short to keep" +
                          (summary.EpisodesFailed > 0 ? $", {summary.EpisodesFailed} failed: {summary.LastError}" : ""));
        foreach (var dataset in summary.Datasets)
        {
            Console.WriteLine($"  {dataset.Directory}: +{dataset.EpisodesWritten} episodes, {dataset.TotalEpisodes} in all");
        }

        if (summary.Datasets.Count > 0)
        {
            var first = summary.Datasets[0];
            Console.WriteLine("calibrate on one with:");
            Console.WriteLine($"  dotnet run -c Release --project calibration-jobs/A1Fleet.CalibrationJobs -- calibrate --model {package} --dataset {first.Directory}");
        }
    }

    /// <summary>Settings given on the command line (<c>--A1Fleet:Silo:SiloPort 11112</c> or <c>--A1Fleet:...=value</c>) reach the silo unchanged.</summary>
    private static IEnumerable<string> PassThrough(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--A1Fleet:", StringComparison.Ordinal) && !args[i].StartsWith("--Logging:", StringComparison.Ordinal))
            {
                continue;
            }

            yield return args[i];
            if (!args[i].Contains('=', StringComparison.Ordinal) && i + 1 < args.Length)
            {
                yield return args[++i];
            }
        }
    }

    private static string Trim(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Mean launched batch size since the last read, from the fleet's own batch-size histogram.</summary>
    private sealed class BatchSizeListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _batches;
        private long _requests;

        public BatchSizeListener()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == Grains.Diagnostics.FleetInstruments.MeterName && instrument.Name == "a1fleet.inference.batch_size")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<int>((_, size, _, _) =>
            {
                Interlocked.Increment(ref _batches);
                Interlocked.Add(ref _requests, size);
            });
            _listener.Start();
        }

        public double TakeMean()
        {
            var batches = Interlocked.Exchange(ref _batches, 0);
            var requests = Interlocked.Exchange(ref _requests, 0);
            return batches == 0 ? 0 : (double)requests / batches;
        }

        public void Dispose() => _listener.Dispose();
    }
}
