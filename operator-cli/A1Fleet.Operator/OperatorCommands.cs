using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using A1Fleet.Grains;
using A1Fleet.Operator.Client;

namespace A1Fleet.Operator;

/// <summary>
/// a1ctl on System.CommandLine: generated help (a1ctl --help, a1ctl COMMAND --help), unknown options, stray
/// arguments and bad values refused before anything is sent (exit 2, naming the option), API refusals and
/// unreachable silos reported without a stack trace (exit 1), Ctrl-C cancelling what the command started
/// (a calibration it is waiting for is cancelled on the cluster; exit 130).
/// </summary>
internal static class OperatorCommands
{
    /// <summary>Exit codes: 0 done; 1 refused by the API, unreachable, or a job failed; 2 the command line is wrong (nothing was sent).</summary>
    public const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>Exit code when an e-stop or resume left a robot unconfirmed: distinct from 1 (refused or unreachable).</summary>
    internal const int NotConfirmedExitCode = 3;

    /// <summary>Ctrl-C: the command was cancelled (and with it a calibration it was waiting for).</summary>
    public const int Canceled = 130;

    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    /// <summary>
    /// Parses and runs one command line. <paramref name="terminal"/>: stdout is a terminal (aligned tables; otherwise a
    /// header line and tab-separated rows); <paramref name="progress"/>: stderr is one (a redrawn progress bar).
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct, HttpMessageHandler? handler = null,
        bool terminal = false, bool progress = false, TimeProvider? time = null)
    {
        args = OldHelp(args);
        var parsed = Parse(args, output, error, handler, terminal, progress, time ?? TimeProvider.System);
        var problems = CheckedCommand.Problems(parsed);
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                await error.WriteLineAsync($"a1ctl: {EscapeLines(problem)}");
            }

            var command = parsed.CommandResult.Command;
            await error.WriteLineAsync($"a1ctl: see a1ctl {(command is RootCommand ? "" : CommandPath(parsed.CommandResult) + " ")}--help");
            return Usage;
        }

        try
        {
            // Program.cs turns Ctrl-C into ct; the parser must not race it for the signal.
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // API refusals and unreachable silos are reported by the commands; this is an answer a1ctl cannot read or a
            // bug: its type and message, not a stack trace.
            await error.WriteLineAsync($"error: unexpected failure: {ex.GetType().Name}: {EscapeLines(ex.Message)}");
            return Failed;
        }
    }

    /// <summary>The old spelling of help: "help" where the command goes (after --url, --api-key, --by and their values).</summary>
    private static string[] OldHelp(string[] args)
    {
        var i = 0;
        while (i < args.Length && args[i] is "--url" or "--api-key" or "--by")
        {
            i += 2;
        }

        return i < args.Length && args[i] == "help" ? [.. args[..i], .. args[(i + 1)..], "--help"] : args;
    }

    /// <summary>The parse alone (what tests check an old invocation against): errors, or the command it would run.</summary>
    internal static ParseResult Parse(string[] args, TextWriter? output = null, TextWriter? error = null, HttpMessageHandler? handler = null,
        bool terminal = false, bool progress = false, TimeProvider? time = null) =>
        new OperatorCli(output ?? TextWriter.Null, error ?? TextWriter.Null, handler, terminal, progress, time ?? TimeProvider.System).Root.Parse(args, Parsing);

    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is System.CommandLine.Parsing.CommandResult { Command: not RootCommand } c; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }

        return string.Join(' ', names);
    }

    internal static string EscapeLines(string text) => string.Join('\n', text.Split('\n').Select(Printable.Escape));
}

/// <summary>The command tree and what each command does.</summary>
internal sealed class OperatorCli
{
    private const string Selectors = "all | robot:ID | tag:NAME | embodiment:franka|agibot|openarm|dobot";

    private readonly TextWriter _output;
    private readonly TextWriter _error;
    private readonly HttpMessageHandler? _handler;
    private readonly bool _progress;
    private readonly TimeProvider _time;
    private readonly Table _table;

    private readonly Option<string?> _url = new("--url")
    {
        Description = "operator API of any silo; default: the A1FLEET_URL environment variable, else http://127.0.0.1:8080 (the demo; scripts/fleet-local.sh prints its own)",
        Recursive = true,
        HelpName = "URL",
    };

    private readonly Option<string?> _apiKey = new("--api-key")
    {
        Description = $"operator API key (a1k_...); default: the {OperatorClient.ApiKeyEnvironmentVariable} environment variable. Roles: viewer reads; operator also assigns, " +
                      "e-stops, resumes, sets budgets and issues robot credentials; admin also models, thresholds, calibrations, keys, audit",
        Recursive = true,
        HelpName = "KEY",
    };

    private readonly Option<string?> _by = new("--by") { Description = "ignored: the silo records the API key's name as who acted", Recursive = true, Hidden = true };

    private readonly CalibrationJobOptions _calibration = new();

    public OperatorCli(TextWriter output, TextWriter error, HttpMessageHandler? handler, bool terminal, bool progress, TimeProvider time)
    {
        _output = output;
        _error = error;
        _handler = handler;
        _progress = progress;
        _time = time;
        _table = new Table(terminal);
        _url.Validators.Add(result =>
        {
            if (result.Tokens.Count == 1 && !OperatorClient.TryParseBaseAddress(result.Tokens[0].Value, out _, out var problem))
            {
                result.AddError($"--url {result.Tokens[0].Value}: {problem}");
            }
        });
        Root = new RootCommand(
            "a1ctl: the operator command line over the silos' HTTP API (docs/fleet.md, Operating: HTTP API and a1ctl).\n" +
            $"SELECTOR: {Selectors}\n" +
            "Exit codes: 0 done; 1 refused by the API, silo unreachable, or a calibration failed; 2 bad command line (nothing sent);\n" +
            "  3 an e-stop or resume left a robot unconfirmed; 130 Ctrl-C (a calibration being waited for is cancelled on the cluster).\n" +
            "Tables are aligned on a terminal; piped, they are a header line and tab-separated rows.")
        {
            _url, _apiKey, _by,
        };
        foreach (var command in Commands())
        {
            Root.Subcommands.Add(command);
        }
    }

    public RootCommand Root { get; }

    private IEnumerable<Command> Commands()
    {
        var selector = SelectorArgument();
        var robots = new Command("robots", "list robots and their status") { selector };
        robots.SetAction((p, ct) => Run(p, async c => Robots(await c.Robots(p.GetValue(selector)!, ct)), ct));
        yield return robots;

        var watchSelector = SelectorArgument();
        var count = Positive("--count", "refreshes before stopping (default: until Ctrl-C)");
        var watch = new Command("watch", "refresh the robot table every second") { watchSelector, count };
        watch.SetAction((p, ct) => Run(p, c => Watch(c, p.GetValue(watchSelector)!, p.GetValue(count), ct), ct));
        yield return watch;

        var assignSelector = SelectorArgument(required: true);
        var instruction = new Argument<string[]>("INSTRUCTION") { Description = "the task, e.g. put the cup on the coaster", Arity = ArgumentArity.OneOrMore };
        instruction.Validators.Add(r =>
        {
            if (InputRules.Instruction(string.Join(' ', r.Tokens.Select(t => t.Value))) is { } problem)
            {
                r.AddError(problem);
            }
        });
        var assign = new Command("assign", "assign a task to the robots a selector matches (stored for robots that register later)") { assignSelector, instruction };
        assign.SetAction((p, ct) => Run(p, async c => Assigned(await c.Assign(p.GetValue(assignSelector)!, string.Join(' ', p.GetValue(instruction)!), ct)), ct));
        yield return assign;

        var budgetSelector = SelectorArgument(required: true);
        var ms = new Argument<double>("MS") { Description = "the latency budget in milliseconds" };
        ms.CustomParser = r =>
        {
            var text = r.Tokens[0].Value;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                r.AddError($"budget MS '{Printable.Escape(text)}' is not a number of milliseconds");
            }
            else if (InputRules.LatencyBudget(value, field: "budget") is { } problem)
            {
                // The shared budget rule with the grains' floor; the silo applies its own, higher floor and names it.
                r.AddError(problem);
            }

            return value;
        };
        var budget = new Command("budget", "set the latency budget of the robots a selector matches") { budgetSelector, ms };
        budget.SetAction((p, ct) => Run(p, async c => Report(await c.Budget(p.GetValue(budgetSelector)!, p.GetValue(ms), ct), $"budget {p.GetValue(ms).ToString(CultureInfo.InvariantCulture)} ms set on"), ct));
        yield return budget;

        foreach (var (name, verb, description) in new[]
        {
            ("estop", "e-stopped", "emergency stop, per robot: confirmed (persisted) or not and why; unconfirmed robots are retried until the deadline; exit 3 if any stays unconfirmed"),
            ("resume", "resumed", "resume after an e-stop (same answer and exit codes)"),
        })
        {
            var safetySelector = SelectorArgument(required: true);
            var deadline = Number("--deadline-ms", "how long unconfirmed robots are retried (the server's default when not given)", "MS");
            var command = new Command(name, description) { safetySelector, deadline };
            command.SetAction((p, ct) => Run(p, async c => Safety(
                name == "estop" ? await c.EStop(p.GetValue(safetySelector)!, p.GetValue(deadline), ct) : await c.Resume(p.GetValue(safetySelector)!, p.GetValue(deadline), ct), verb), ct));
            yield return command;
        }

        var assignmentId = new Argument<long>("ID") { Description = "the assignment's id (a1ctl assignments lists them)" };
        assignmentId.CustomParser = r => long.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id
            : Error<long>(r, $"assignment id '{Printable.Escape(r.Tokens[0].Value)}' is not a number (see a1ctl assignments)");
        var delete = new Command("delete", "delete a standing assignment: robots that register later no longer take it") { assignmentId };
        delete.SetAction((p, ct) => Run(p, async c =>
        {
            await c.DeleteAssignment(p.GetValue(assignmentId), ct);
            _output.WriteLine($"assignment {p.GetValue(assignmentId)} deleted: robots that register later no longer take it");
            return OperatorCommands.Ok;
        }, ct));
        var assignments = new Command("assignments", "standing assignments (replayed onto robots that register later)") { delete };
        assignments.SetAction((p, ct) => Run(p, async c => Assignments(await c.Assignments(ct)), ct));
        yield return assignments;

        var leaseRobot = new Argument<string>("ROBOT") { Description = "the robot whose lease ends" };
        var successor = new Option<string?>("--to") { Description = "only this agent may bind next (a take)", HelpName = "AGENT" };
        var release = new Command("release", "end a robot's lease") { leaseRobot, successor };
        release.SetAction((p, ct) => Run(p, async c => LeaseReleased(await c.ReleaseLease(p.GetValue(leaseRobot)!, p.GetValue(successor), ct), p.GetValue(successor)), ct));
        yield return new Command("lease", "a robot's lease") { release };

        var keys = new Command("keys", "operator API keys (admin)");
        keys.SetAction((p, ct) => Run(p, async c => Credentials(await c.ApiKeys(ct)), ct));
        yield return keys;

        var keyName = new Argument<string>("NAME") { Description = "who the key is for" };
        var role = new Argument<string>("ROLE") { Description = "viewer, operator or admin" };
        role.AcceptOnlyFromAmong("viewer", "operator", "admin");
        var createKey = new Command("create-key", "create an operator API key (admin); the key is printed once") { keyName, role };
        createKey.SetAction((p, ct) => Run(p, async c => Created(await c.CreateApiKey(p.GetValue(keyName)!, p.GetValue(role)!, ct)), ct));
        yield return createKey;

        var keyId = new Argument<string>("KEY_ID") { Description = "the key's id (a1ctl keys lists them)" };
        var revokeKey = new Command("revoke-key", "revoke an operator API key (admin)") { keyId };
        revokeKey.SetAction((p, ct) => Run(p, async c => Revoked(await c.RevokeApiKey(p.GetValue(keyId)!, ct)), ct));
        yield return revokeKey;

        var credentialsRobot = new Argument<string>("ROBOT") { Description = "the robot" };
        var robotCredentials = new Command("robot-credentials", "a robot's credentials (operator)") { credentialsRobot };
        robotCredentials.SetAction((p, ct) => Run(p, async c => Credentials(await c.RobotCredentials(p.GetValue(credentialsRobot)!, ct)), ct));
        yield return robotCredentials;

        var issueRobot = new Argument<string>("ROBOT") { Description = "the robot the credential speaks for (only it)" };
        var credentialName = new Option<string?>("--name") { Description = "the credential's name", HelpName = "NAME" };
        var issue = new Command("issue-credential", "issue a robot credential (operator); printed once") { issueRobot, credentialName };
        issue.SetAction((p, ct) => Run(p, async c => Created(await c.IssueRobotCredential(p.GetValue(issueRobot)!, p.GetValue(credentialName), ct)), ct));
        yield return issue;

        var revokeRobot = new Argument<string>("ROBOT") { Description = "the robot" };
        var credentialId = new Argument<string>("CREDENTIAL_ID") { Description = "the credential's id (a1ctl robot-credentials ROBOT lists them)" };
        var revokeCredential = new Command("revoke-credential", "revoke a robot credential (operator)") { revokeRobot, credentialId };
        revokeCredential.SetAction((p, ct) => Run(p, async c => Revoked(await c.RevokeRobotCredential(p.GetValue(revokeRobot)!, p.GetValue(credentialId)!, ct)), ct));
        yield return revokeCredential;

        var since = new Option<DateTimeOffset?>("--since") { Description = "entries from this time on (e.g. 2026-01-31T12:00:00Z)", HelpName = "TIME" };
        since.CustomParser = r => DateTimeOffset.TryParse(r.Tokens[0].Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at
            : Error<DateTimeOffset?>(r, $"--since '{Printable.Escape(r.Tokens[0].Value)}' is not a time (e.g. 2026-01-31T12:00:00Z)");
        var limit = Positive("--limit", "at most this many entries");
        var audit = new Command("audit", "the audit log, newest first (admin)") { since, limit };
        audit.SetAction((p, ct) => Run(p, async c => Audit(await c.Audit(p.GetValue(since), p.GetValue(limit), ct)), ct));
        yield return audit;

        yield return Compat();

        var models = new Command("models", "models and their live threshold versions");
        models.SetAction((p, ct) => Run(p, async c => Models(await c.Models(ct)), ct));
        yield return models;

        var thresholdsModel = new Argument<string>("MODEL") { Description = "the model" };
        var thresholds = new Command("thresholds", "threshold versions of a model") { thresholdsModel };
        thresholds.SetAction((p, ct) => Run(p, async c => Thresholds(await c.Model(p.GetValue(thresholdsModel)!, ct)), ct));
        yield return thresholds;

        var liveModel = new Argument<string>("MODEL") { Description = "the model" };
        var liveVersion = new Argument<string>("VERSION") { Description = "the threshold version (a1ctl thresholds MODEL lists them)" };
        var live = new Command("live", "make a threshold version live (roll back)") { liveModel, liveVersion };
        live.SetAction((p, ct) => Run(p, async c => Live(await c.SetLive(p.GetValue(liveModel)!, p.GetValue(liveVersion)!, ct), p.GetValue(liveModel)!), ct));
        yield return live;

        yield return Calibrate();

        var jobArgument = new Argument<string>("JOB") { Description = "the calibration job's id" };
        var calibration = new Command("calibration", "a calibration job's status") { jobArgument };
        calibration.SetAction((p, ct) => Run(p, async c => CalibrationStatus(await c.Calibration(p.GetValue(jobArgument)!, ct)), ct));
        yield return calibration;

        var cancelJob = new Argument<string>("JOB") { Description = "the calibration job's id" };
        var cancel = new Command("cancel-calibration", "cancel a calibration job") { cancelJob };
        cancel.SetAction((p, ct) => Run(p, async c => CalibrationStatus(await c.CancelCalibration(p.GetValue(cancelJob)!, ct)), ct));
        yield return cancel;

        yield return ScheduleCalibration();

        var scheduleModel = new Argument<string>("MODEL") { Description = "the model" };
        var runNow = new Option<bool>("--run-now") { Description = "run the schedule's job now (skipped when nothing changed, unless it was set with --always)" };
        var schedule = new Command("calibration-schedule", "a model's calibration schedule and its recent runs") { scheduleModel, runNow };
        schedule.SetAction((p, ct) => Run(p, async c => p.GetValue(runNow)
            ? ScheduledRun(await c.RunCalibrationSchedule(p.GetValue(scheduleModel)!, ct))
            : ScheduleStatus(await c.CalibrationSchedule(p.GetValue(scheduleModel)!, ct)), ct));
        yield return schedule;

        var unscheduleModel = new Argument<string>("MODEL") { Description = "the model" };
        var unschedule = new Command("unschedule-calibration", "remove a model's calibration schedule") { unscheduleModel };
        unschedule.SetAction((p, ct) => Run(p, async c => ScheduleStatus(await c.ClearCalibrationSchedule(p.GetValue(unscheduleModel)!, ct)), ct));
        yield return unschedule;
    }

    private Command Compat()
    {
        var presets = new Command("presets", "the shipped layouts (openpi LIBERO/DROID/ALOHA, A1's camera orders)");
        presets.SetAction((p, ct) => Run(p, async c =>
        {
            _table.Write(_output, ["preset", "protocol", "cameras (model order)", "camera order", "state keys"], (await c.CompatPresetList(ct)).Select(x => new[]
            {
                x.Name, x.Protocol, string.Join(",", x.Cameras), x.CameraOrder.Count == 0 ? "-" : string.Join(",", x.CameraOrder), x.StateKeys.Count == 0 ? "proprio_data" : string.Join(",", x.StateKeys),
            }).ToList());
            return OperatorCommands.Ok;
        }, ct));

        var showRobot = new Argument<string>("ROBOT") { Description = "the robot" };
        var show = new Command("show", "a robot's compatible-protocol profile") { showRobot };
        show.SetAction((p, ct) => Run(p, async c =>
        {
            WriteProfile(await c.CompatProfile(p.GetValue(showRobot)!, ct));
            return OperatorCommands.Ok;
        }, ct));

        var clearRobot = new Argument<string>("ROBOT") { Description = "the robot" };
        var clear = new Command("clear", "remove a robot's compatible-protocol profile") { clearRobot };
        clear.SetAction((p, ct) => Run(p, async c =>
        {
            await c.ClearCompatProfile(p.GetValue(clearRobot)!, ct);
            _output.WriteLine($"compatible-protocol profile of {Printable.Escape(p.GetValue(clearRobot))} removed");
            return OperatorCommands.Ok;
        }, ct));

        var setRobot = new Argument<string>("ROBOT") { Description = "the robot" };
        var preset = new Option<string?>("--preset") { Description = "the layout to start from (a1ctl compat presets)", HelpName = "NAME" };
        var model = new Option<string?>("--model") { Description = "the model the robot runs", HelpName = "MODEL" };
        var protocol = new Option<string?>("--protocol") { Description = "the protocol, when no preset names it", HelpName = "NAME" };
        var embodiment = new Option<string?>("--embodiment") { Description = "arm kind: franka, agibot, openarm or dobot", HelpName = "KIND" };
        var cameras = new Option<string?>("--cameras") { Description = "the client's camera keys, in the model's order, comma-separated", HelpName = "K1,K2" };
        var cameraOrder = new Option<string?>("--camera-order") { Description = "the model's camera names in the order the client sends them", HelpName = "N1,N2" };
        var stateKeys = new Option<string?>("--state-keys") { Description = "the client's state keys, concatenated in this order", HelpName = "K1,K2" };
        var instruction = new Option<string?>("--instruction") { Description = "where the instruction comes from: prompt (the client's) or task (the assigned one)", HelpName = "prompt|task" };
        var metadata = new Option<System.Text.Json.JsonElement?>("--metadata") { Description = "JSON the server's metadata answer carries", HelpName = "JSON" };
        metadata.CustomParser = r =>
        {
            try
            {
                using var document = System.Text.Json.JsonDocument.Parse(r.Tokens[0].Value);
                return document.RootElement.Clone();
            }
            catch (System.Text.Json.JsonException ex)
            {
                return Error<System.Text.Json.JsonElement?>(r, $"--metadata is not JSON: {ex.Message}");
            }
        };
        var controlHz = Number("--control-hz", "the robot's control rate", "HZ");
        var robotBudget = new Option<(double Min, double Max)?>("--robot-budget") { Description = "the range the robot may set its own latency budget in, ms", HelpName = "MIN..MAX" };
        robotBudget.CustomParser = r =>
        {
            var text = r.Tokens[0].Value;
            var parts = text.Split("..");
            return parts.Length == 2 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var min) && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var max)
                ? (min, max)
                : Error<(double, double)?>(r, $"--robot-budget '{Printable.Escape(text)}' must be MIN..MAX in ms, e.g. 50..200");
        };
        var set = new Command("set", "how a robot that speaks openpi or A1's HTTP API maps onto its model (operator); see docs/compatible-protocols.md")
        {
            setRobot, preset, model, protocol, embodiment, cameras, cameraOrder, stateKeys, instruction, metadata, controlHz, robotBudget,
        };
        set.SetAction((p, ct) => Run(p, async c =>
        {
            var range = p.GetValue(robotBudget);
            var request = new CompatProfileRequest(
                p.GetValue(preset), p.GetValue(model), p.GetValue(protocol), p.GetValue(embodiment),
                p.GetValue(cameras)?.Split(','), p.GetValue(cameraOrder)?.Split(','), p.GetValue(stateKeys)?.Split(','),
                p.GetValue(instruction), p.GetValue(metadata), p.GetValue(controlHz), range?.Min, range?.Max);
            WriteProfile(await c.SetCompatProfile(p.GetValue(setRobot)!, request, ct));
            return OperatorCommands.Ok;
        }, ct));
        return new Command("compat", "compatible-protocol profiles: how a robot that speaks openpi or A1's HTTP API maps onto its model") { presets, show, set, clear };
    }

    private CheckedCommand Calibrate()
    {
        var model = new Argument<string>("MODEL") { Description = "the model id the silos serve" };
        var dataset = new Argument<string>("DATASET_DIR") { Description = "the LeRobot dataset, as the GPU silos see it (a relative path is made absolute here)" };
        var command = new CheckedCommand("calibrate", "run a calibration job on the cluster and follow it; Ctrl-C cancels it there (--no-wait leaves it running). " +
                                               "The same flags as the calibration job's calibrate --cluster (docs/calibration.md)") { model, dataset };
        _calibration.AddTo(command, [.. _calibration.Sweep, .. _calibration.ClusterOnly]);
        command.SetAction((p, ct) => Run(p, async c =>
        {
            var modelId = p.GetValue(model)!;
            var jobId = p.GetValue(_calibration.JobId) ?? CalibrationJobFollower.NewJobId(modelId, _time);
            var request = _calibration.Request(p, modelId, Path.GetFullPath(p.GetValue(dataset)!), jobId);
            CalibrationJobStatus status;
            try
            {
                status = await c.StartCalibration(request, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return await CancelJob(c, jobId);
            }

            _output.WriteLine($"calibration job {status.JobId}: {status.ShardsTotal} shards, {status.SamplesTotal} samples");
            if (p.GetValue(_calibration.NoWait))
            {
                _output.WriteLine($"not waiting (--no-wait): a1ctl calibration {status.JobId} follows it, a1ctl cancel-calibration {status.JobId} cancels it");
                return CalibrationStatus(status);
            }

            try
            {
                status = await CalibrationJobFollower.FollowAsync(c, status, DrawProgress, _time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                EndProgress();
                return await CancelJob(c, status.JobId);
            }
            catch (CalibrationJobLostException ex)
            {
                EndProgress();
                return Fail(ex.Message);
            }

            EndProgress();
            return CalibrationStatus(status);
        }, ct));
        return command;
    }

    private CheckedCommand ScheduleCalibration()
    {
        var model = new Argument<string>("MODEL") { Description = "the model id the silos serve" };
        var dataset = new Argument<string>("DATASET_DIR") { Description = "the LeRobot dataset, as the GPU silos see it" };
        var every = Number("--every", "minutes between runs", "MINUTES");
        every.Required = true;
        var firstIn = Number("--first-in", "seconds until the first run (default: one period)", "SECONDS");
        var always = new Option<bool>("--always") { Description = "run even when the model and dataset are unchanged" };
        var command = new CheckedCommand("schedule-calibration", "recalibrate on a reminder (by default only when the model or dataset changed)") { model, dataset, every, firstIn, always };
        _calibration.AddTo(command, [.. _calibration.Sweep, _calibration.Shards, _calibration.MakeLive]);
        command.SetAction((p, ct) => Run(p, async c => ScheduleStatus(await c.SetCalibrationSchedule(
            p.GetValue(model)!,
            _calibration.ScheduleRequest(p, Path.GetFullPath(p.GetValue(dataset)!), p.GetValue(every) ?? 0, p.GetValue(firstIn), !p.GetValue(always)),
            ct)), ct));
        return command;
    }

    /// <summary>The client for the URL and key the command line (or the environment) gives; API and network failures become exit 1.</summary>
    private async Task<int> Run(ParseResult parsed, Func<OperatorClient, Task<int>> action, CancellationToken ct)
    {
        var url = parsed.GetValue(_url) ?? Environment.GetEnvironmentVariable("A1FLEET_URL") ?? "http://127.0.0.1:8080";
        var apiKey = parsed.GetValue(_apiKey) ?? OperatorClient.ApiKeyFromEnvironment();
        if (parsed.GetValue(_by) is not null)
        {
            // Who acts is the API key's name now; a free-text name would be a claim nobody checks.
            _error.WriteLine("note: --by is ignored: the silo records the API key's name as who acted");
        }

        if (!OperatorClient.TryParseBaseAddress(url, out var baseAddress, out var problem))
        {
            _error.WriteLine($"a1ctl: A1FLEET_URL {Printable.Escape(url)}: {problem}");
            return OperatorCommands.Usage;
        }

        using var http = OperatorClient.CreateHttpClient(baseAddress, _handler, apiKey);
        try
        {
            return await action(new OperatorClient(http));
        }
        catch (OperatorApiException ex)
        {
            return Fail(ex.Status == 401 && apiKey is null ? $"{ex.Detail} (no key given: use --api-key or {OperatorClient.ApiKeyEnvironmentVariable})" : ex.Detail);
        }
        catch (HttpRequestException ex)
        {
            return Fail($"cannot reach the operator API at {url}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail($"the operator API at {url} did not answer within {OperatorClient.DefaultTimeout.TotalSeconds:F0} s");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _error.WriteLine("canceled");
            return OperatorCommands.Canceled;
        }
    }

    private static Argument<string> SelectorArgument(bool required = false)
    {
        var argument = new Argument<string>("SELECTOR") { Description = Selectors, Arity = required ? ArgumentArity.ExactlyOne : ArgumentArity.ZeroOrOne };
        if (!required)
        {
            argument.DefaultValueFactory = _ => "all";
        }

        argument.CustomParser = r =>
        {
            if (r.Tokens.Count == 0)
            {
                return "all";
            }

            return RobotSelector.TryParse(r.Tokens[0].Value, out var selector, out var problem) ? selector.ToString() : Error<string>(r, problem ?? "not a selector");
        };
        return argument;
    }

    private static Option<int?> Positive(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description, HelpName = "N" };
        option.CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : Error<int?>(r, $"{name} '{Printable.Escape(r.Tokens[0].Value)}' is not a positive whole number");
        return option;
    }

    private static Option<double?> Number(string name, string description, string helpName)
    {
        var option = new Option<double?>(name) { Description = description, HelpName = helpName };
        option.CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value
            : Error<double?>(r, $"{name} '{Printable.Escape(r.Tokens[0].Value)}' is not a number");
        return option;
    }

    private static T Error<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default!;
    }

    private async Task<int> CancelJob(OperatorClient client, string jobId)
    {
        _error.WriteLine(Printable.Escape(await CalibrationJobFollower.CancelAsync(client, jobId, _time)));
        return OperatorCommands.Canceled;
    }

    private bool _progressOpen;

    /// <summary>A redrawn bar on a terminal's stderr only: piped, the job line before and the status after say it all.</summary>
    private void DrawProgress(CalibrationJobStatus status, string? trouble)
    {
        if (!_progress)
        {
            return;
        }

        var share = status.SamplesTotal == 0 ? 0 : (double)status.SamplesDone / status.SamplesTotal;
        var bar = new string('#', (int)(share * 30)).PadRight(30, '.');
        _error.Write($"\r[{bar}] {status.SamplesDone}/{status.SamplesTotal} samples, {status.ShardsDone}/{status.ShardsTotal} shards ({status.ShardsRunning} running)" +
                     (trouble is not null ? $"; {trouble}   " : status.EtaSeconds is { } eta ? $", ETA {eta:F0} s   " : "   "));
        _progressOpen = true;
    }

    private void EndProgress()
    {
        if (_progressOpen)
        {
            _error.WriteLine();
            _progressOpen = false;
        }
    }

    private int Fail(string message)
    {
        // Messages quote what clients sent (names, instructions): nothing in them may drive the terminal.
        _error.WriteLine($"error: {OperatorCommands.EscapeLines(message)}");
        return OperatorCommands.Failed;
    }

    private void WriteProfile(CompatProfileView p)
    {
        var output = _output;
        output.WriteLine($"robot        {Printable.Escape(p.RobotId)}");
        output.WriteLine($"protocol     {p.Protocol} (layout {p.Layout})");
        output.WriteLine($"model        {p.ModelId} ({p.Embodiment}, {p.ControlHz.ToString(CultureInfo.InvariantCulture)} Hz)");
        output.WriteLine($"cameras      {string.Join(", ", p.Cameras.Select(Printable.Escape))}");
        if (p.CameraOrder.Count > 0)
        {
            output.WriteLine($"camera order {string.Join(", ", p.CameraOrder.Select(Printable.Escape))}");
        }

        output.WriteLine($"state        {(p.StateKeys.Count == 0 ? "proprio_data" : string.Join(" + ", p.StateKeys.Select(Printable.Escape)))}");
        output.WriteLine($"instruction  {(p.InstructionSource == "prompt" ? "the client's prompt (the assigned task when it sends none)" : "the assigned task (the client's prompt is ignored)")}");
        output.WriteLine($"metadata     {Printable.Escape(p.Metadata.GetRawText())}");
        output.WriteLine($"robot budget {(p.RobotBudgetMinMs is { } min && p.RobotBudgetMaxMs is { } max ? $"the robot may set {min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)} ms" : "set by operators only")}");
        output.WriteLine($"updated by   {Printable.Escape(p.UpdatedBy)} at {p.UpdatedAt:u}");
    }

    private int Audit(List<AuditEntry> entries)
    {
        _table.Write(_output, ["#", "at", "who", "role", "call", "target", "status", "parameters"], entries.Select(e => new[]
        {
            e.Sequence.ToString(CultureInfo.InvariantCulture), e.At.ToString("u", CultureInfo.InvariantCulture),
            e.CredentialId is null ? "(no valid key)" : $"{e.CredentialName} ({e.CredentialId})", e.Role ?? "-",
            $"{e.Method} {e.Route}", e.Target ?? "-", e.Status.ToString(CultureInfo.InvariantCulture), Trim(e.Parameters ?? "-", 60),
        }).ToList());
        return OperatorCommands.Ok;
    }

    private int Credentials(List<CredentialInfo> credentials)
    {
        _table.Write(_output, ["id", "name", "role/robot", "created", "by", "revoked"], credentials.Select(c => new[]
        {
            c.Id, c.Name, c.Role?.ToString().ToLowerInvariant() ?? c.RobotId ?? "-", c.CreatedAt.ToString("u", CultureInfo.InvariantCulture), c.CreatedBy,
            c.RevokedAt is { } at ? $"{at:u} by {c.RevokedBy}" : "",
        }).ToList());
        return OperatorCommands.Ok;
    }

    private int Created(CreatedCredential created)
    {
        var c = created.Credential;
        _output.WriteLine(Printable.Escape($"created {created.Id} ({c.Name}, {c.Role?.ToString().ToLowerInvariant() ?? "robot " + c.RobotId}); the key is shown only now:"));
        _output.WriteLine(Printable.Escape(created.Key));
        return OperatorCommands.Ok;
    }

    private int Revoked(CredentialInfo revoked)
    {
        _output.WriteLine(Printable.Escape($"revoked {revoked.Id} ({revoked.Name}) at {revoked.RevokedAt:u}: refused from its next request on"));
        return OperatorCommands.Ok;
    }

    private int Robots(IReadOnlyList<RobotStatus> robots)
    {
        WriteRobots(robots, _output, _table);
        return OperatorCommands.Ok;
    }

    private async Task<int> Watch(OperatorClient client, string selector, int? count, CancellationToken ct)
    {
        for (var i = 0; count is null || i < count; i++)
        {
            _output.WriteLine($"-- {_time.GetLocalNow():HH:mm:ss}");
            WriteRobots(await client.Robots(selector, ct), _output, _table);
            if (count is null || i + 1 < count)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _time, ct);
            }
        }

        return OperatorCommands.Ok;
    }

    internal static void WriteRobots(IReadOnlyList<RobotStatus> robots, TextWriter output, Table? table = null)
    {
        var rows = robots.Select(r => new[]
        {
            r.RobotId,
            r.Embodiment?.ToString() ?? "-",
            r.EStopped ? "E-STOP" : r.Task is null ? "idle" : "running",
            r.Online ? "online" : "OFFLINE",
            AgentProtocols.Of(r.AgentId),
            Trim(r.Task?.Instruction ?? "-", 32),
            r.LatencyBudgetMs.ToString("F0", CultureInfo.InvariantCulture),
            r.Counters.Chunks.ToString(CultureInfo.InvariantCulture),
            r.Counters.MeanExitLayer.ToString("F2", CultureInfo.InvariantCulture),
            r.Counters.P50LatencyMs.ToString("F1", CultureInfo.InvariantCulture),
            r.Counters.P99LatencyMs.ToString("F1", CultureInfo.InvariantCulture),
            r.Counters.BudgetMisses.ToString(CultureInfo.InvariantCulture),
            r.Counters.Refusals.ToString(CultureInfo.InvariantCulture),
            r.Counters.ForcedExits.ToString(CultureInfo.InvariantCulture),
            r.Counters.Holds.ToString(CultureInfo.InvariantCulture),
            // Episodes of the agent's simulated task: successes (the simulated world's decision) of episodes ended.
            r.Counters.Episodes == 0 ? "-" : $"{r.Counters.Successes}/{r.Counters.Episodes}",
        }).ToList();
        (table ?? Table.Aligned).Write(output, ["robot", "kind", "state", "agent", "via", "task", "budget", "chunks", "exit", "p50 ms", "p99 ms", "misses", "refused", "forced", "holds", "success"], rows);
        output.WriteLine($"{robots.Count} robot(s)");
    }

    private int Models(List<ModelInfo> models)
    {
        _table.Write(_output, ["model", "live version", "live set", "versions"], models.Select(m => new[]
        {
            m.ModelId, m.LiveVersion ?? "-", m.Versions.FirstOrDefault(v => v.Live)?.Name ?? "-", m.Versions.Count.ToString(CultureInfo.InvariantCulture),
        }).ToList());
        return OperatorCommands.Ok;
    }

    private int Thresholds(ModelInfo model)
    {
        _table.Write(_output, ["version", "set", "samples", "layers run", "published", "live"], model.Versions.Select(v => new[]
        {
            v.Version, v.Name, v.SampleCount.ToString(CultureInfo.InvariantCulture), v.ExpectedLayerFraction.ToString("P1", CultureInfo.InvariantCulture),
            v.PublishedAt.ToString("u", CultureInfo.InvariantCulture), v.Live ? "*" : "",
        }).ToList());
        return OperatorCommands.Ok;
    }

    private int Live(ThresholdVersionInfo info, string model)
    {
        _output.WriteLine(Printable.Escape($"{model}: threshold version {info.Version} ({info.Name}) is live; inference grains switch at their next batch"));
        return OperatorCommands.Ok;
    }

    private int ScheduleStatus(CalibrationScheduleStatus status)
    {
        if (status.Schedule is not { } schedule)
        {
            _output.WriteLine($"model {status.ModelId}: no calibration schedule");
        }
        else
        {
            var job = schedule.Job;
            _output.WriteLine($"model {status.ModelId}: every {schedule.Every}{(schedule.OnlyWhenChanged ? ", when the model or dataset changed" : "")}, next {status.NextRunAt:u}");
            _output.WriteLine($"  dataset {job.DatasetDirectory}; families {string.Join(",", job.Families)}, r {string.Join(",", job.Rs.Select(r => r.ToString(CultureInfo.InvariantCulture)))}, " +
                              $"{job.Shards} shards{(job.MakeLive is null ? "" : $", make live {job.MakeLive}")}");
        }

        if (status.History.Length > 0)
        {
            _table.Write(_output, ["at", "outcome", "job", "detail"], status.History.Select(r => new[] { r.At.ToString("u", CultureInfo.InvariantCulture), r.Outcome.ToString(), r.JobId ?? "-", Trim(r.Detail, 70) }).ToList());
        }

        return OperatorCommands.Ok;
    }

    private int ScheduledRun(ScheduledRun run)
    {
        _output.WriteLine(Printable.Escape($"{run.Outcome}{(run.JobId is null ? "" : $" (job {run.JobId})")}: {run.Detail}"));
        return run.Outcome == ScheduledRunOutcome.Refused ? OperatorCommands.Failed : OperatorCommands.Ok;
    }

    private int CalibrationStatus(CalibrationJobStatus status)
    {
        _output.WriteLine(Printable.Escape($"job {status.JobId}: {status.State}, {status.ShardsDone}/{status.ShardsTotal} shards, {status.SamplesDone}/{status.SamplesTotal} samples" +
                          (status.Error is null ? "" : $", error: {status.Error}")));
        if (status.Published.Length > 0)
        {
            _table.Write(_output, ["version", "set", "samples", "layers run", "live"], status.Published.Select(v => new[]
            {
                v.Version, v.Name, v.SampleCount.ToString(CultureInfo.InvariantCulture), v.ExpectedLayerFraction.ToString("P1", CultureInfo.InvariantCulture), v.Live ? "*" : "",
            }).ToList());
        }

        return status.State is CalibrationJobState.Failed ? OperatorCommands.Failed : OperatorCommands.Ok;
    }

    private int Report(CommandResponse response, string verb)
    {
        _output.WriteLine(Printable.Escape($"{verb} {response.Robots.Count} robot(s): {string.Join(", ", response.Robots)}"));
        return OperatorCommands.Ok;
    }

    private int Assigned(CommandResponse response)
    {
        _output.WriteLine(Printable.Escape(response.Message ?? $"assigned {response.Robots.Count} robot(s)"));
        if (response.Robots.Count > 0)
        {
            _output.WriteLine(Printable.Escape($"robots: {string.Join(", ", response.Robots)}"));
        }

        return OperatorCommands.Ok;
    }

    private int Safety(SafetyCommandReport report, string verb)
    {
        _table.Write(_output, ["robot", "confirmed", "generation", "persisted", "pushed", "online", "attempts", "why"], report.Robots.Select(r => new[]
        {
            r.RobotId, r.Confirmed ? "yes" : "NO", r.Generation.ToString(CultureInfo.InvariantCulture), r.Persisted ? "yes" : "no", r.Pushed ? "yes" : "no",
            r.AgentOnline ? "yes" : "no", r.Attempts.ToString(CultureInfo.InvariantCulture), r.Error ?? "",
        }).ToList());
        var confirmed = report.Robots.Count(r => r.Confirmed);
        _output.WriteLine($"{verb} {confirmed} of {report.Robots.Count} robot(s) confirmed");
        if (report.AllConfirmed)
        {
            return OperatorCommands.Ok;
        }

        _error.WriteLine($"error: {Printable.Escape(report.Error ?? "not every robot was confirmed")}");
        return OperatorCommands.NotConfirmedExitCode;
    }

    private int Assignments(List<Assignment> assignments)
    {
        _table.Write(_output, ["id", "selector", "task", "by", "at"], assignments.Select(a => new[]
        {
            a.Id.ToString(CultureInfo.InvariantCulture), a.Selector.ToString(), Trim(a.Instruction, 48), a.AssignedBy, a.At.ToString("u", CultureInfo.InvariantCulture),
        }).ToList());
        _output.WriteLine($"{assignments.Count} assignment(s)");
        return OperatorCommands.Ok;
    }

    private int LeaseReleased(RobotStatus status, string? successor)
    {
        _output.WriteLine(Printable.Escape($"{status.RobotId}: lease released (epoch now {status.Epoch}); next bind: {successor ?? "any agent"}"));
        return OperatorCommands.Ok;
    }

    private static string Trim(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";
}
