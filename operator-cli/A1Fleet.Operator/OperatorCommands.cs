using System.Globalization;
using A1Fleet.Grains;
using A1Fleet.Operator.Client;

namespace A1Fleet.Operator;

/// <summary>
/// a1ctl [--url http://127.0.0.1:8080] [--api-key a1k_...] COMMAND ...
///   robots [SELECTOR]                 table of robots (default: all)
///   watch [SELECTOR] [--count N]      refresh the table every second
///   assign SELECTOR INSTRUCTION...    assign a task
///   budget SELECTOR MS                set the latency budget
///   estop SELECTOR | resume SELECTOR [--deadline-ms MS]   per-robot confirmation; exit 3 when any is unconfirmed
///   assignments [delete ID]           standing assignments, or delete one
///   lease release ROBOT [--to AGENT]  end a robot's lease (take: release to the agent that drives next)
///   models                            models and their live threshold version
///   thresholds MODEL                  a model's threshold versions
///   live MODEL VERSION                make a version live (roll back)
/// SELECTOR: all, robot:ID, tag:NAME, embodiment:franka|agibot|openarm|dobot
/// </summary>
internal static class OperatorCommands
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct, HttpMessageHandler? handler = null)
    {
        var list = args.ToList();
        var url = Take(list, "--url") ?? Environment.GetEnvironmentVariable("A1FLEET_URL") ?? "http://127.0.0.1:8080";
        var apiKey = Take(list, "--api-key") ?? OperatorClient.ApiKeyFromEnvironment();
        if (Take(list, "--by") is not null)
        {
            // Who acts is the API key's name now; a free-text name would be a claim nobody checks.
            error.WriteLine("note: --by is ignored: the silo records the API key's name as who acted");
        }

        var deadline = Take(list, "--deadline-ms");
        var successor = Take(list, "--to");
        if (list.Count == 0 || list[0] is "-h" or "--help" or "help")
        {
            output.WriteLine(Usage);
            return list.Count == 0 ? 2 : 0;
        }

        using var http = OperatorClient.CreateHttpClient(new Uri(url), handler, apiKey);
        var client = new OperatorClient(http);
        try
        {
            double? deadlineMs = deadline is null ? null : Number(deadline, "--deadline-ms");
            return list[0] switch
            {
                "robots" => await Robots(client, Arg(list, 1) ?? "all", output, ct),
                "watch" => await Watch(client, list, output, ct),
                "assign" when list.Count >= 3 => Assigned(await client.Assign(Selector(list[1]), Instruction(string.Join(' ', list.Skip(2))), ct), output),
                "budget" when list.Count == 3 => Report(await client.Budget(Selector(list[1]), Ms(list[2]), ct), $"budget {list[2]} ms set on", output),
                "estop" when list.Count == 2 => Safety(await client.EStop(Selector(list[1]), deadlineMs, ct), "e-stopped", output, error),
                "resume" when list.Count == 2 => Safety(await client.Resume(Selector(list[1]), deadlineMs, ct), "resumed", output, error),
                "assignments" when list.Count == 1 => Assignments(await client.Assignments(ct), output),
                "assignments" when list.Count == 3 && list[1] == "delete" => await DeleteAssignment(client, list[2], output, ct),
                "lease" when list.Count == 3 && list[1] == "release" => LeaseReleased(await client.ReleaseLease(list[2], successor, ct), successor, output),
                "keys" when list.Count == 1 => Credentials(await client.ApiKeys(ct), output),
                "create-key" when list.Count == 3 => Created(await client.CreateApiKey(list[1], list[2], ct), output),
                "revoke-key" when list.Count == 2 => Revoked(await client.RevokeApiKey(list[1], ct), output),
                "robot-credentials" when list.Count == 2 => Credentials(await client.RobotCredentials(list[1], ct), output),
                "issue-credential" when list.Count is 2 or 4 => Created(await client.IssueRobotCredential(list[1], Take(list, "--name"), ct), output),
                "revoke-credential" when list.Count == 3 => Revoked(await client.RevokeRobotCredential(list[1], list[2], ct), output),
                "audit" => await Audit(client, list, output, ct),
                "compat" => await Compat(client, list, output, ct),
                "models" => Models(await client.Models(ct), output),
                "thresholds" when list.Count == 2 => Thresholds(await client.Model(list[1], ct), output),
                "live" when list.Count == 3 => Live(await client.SetLive(list[1], list[2], ct), list[1], output),
                "calibrate" when list.Count >= 3 => await Calibrate(client, list, output, error, ct),
                "calibration" when list.Count == 2 => CalibrationStatus(await client.Calibration(list[1], ct), output),
                "cancel-calibration" when list.Count == 2 => CalibrationStatus(await client.CancelCalibration(list[1], ct), output),
                "schedule-calibration" when list.Count >= 3 => ScheduleStatus(await client.SetCalibrationSchedule(list[1], ScheduleRequest(list), ct), output),
                "calibration-schedule" when list.Count == 2 => ScheduleStatus(await client.CalibrationSchedule(list[1], ct), output),
                "calibration-schedule" when list.Count == 3 && list[2] == "--run-now" => ScheduledRun(await client.RunCalibrationSchedule(list[1], ct), output),
                "unschedule-calibration" when list.Count == 2 => ScheduleStatus(await client.ClearCalibrationSchedule(list[1], ct), output),
                _ => Fail(error, $"unknown or incomplete command '{string.Join(' ', list)}'\n\n{Usage}"),
            };
        }
        catch (OperatorApiException ex)
        {
            return Fail(error, ex.Status == 401 && apiKey is null ? $"{ex.Detail} (no key given: use --api-key or {OperatorClient.ApiKeyEnvironmentVariable})" : ex.Detail);
        }
        catch (ArgumentException ex)
        {
            return Fail(error, ex.Message);
        }
        catch (HttpRequestException ex)
        {
            return Fail(error, $"cannot reach the operator API at {url}: {ex.Message}");
        }
    }

    private const string Usage = """
        usage: a1ctl [--url URL] [--api-key KEY] COMMAND
          --url URL                       operator API of any silo; default: the A1FLEET_URL environment variable, else
                                          http://127.0.0.1:8080 (the demo; scripts/fleet-local.sh prints its own)
          --api-key KEY                   operator API key (a1k_...); default: the A1FLEET_API_KEY environment variable.
                                          Roles: viewer reads; operator also assigns, e-stops, resumes, sets budgets and
                                          issues robot credentials; admin also models, thresholds, calibrations, keys, audit
          robots [SELECTOR]               list robots and status
          watch [SELECTOR] [--count N]    refresh the robot table every second
          assign SELECTOR INSTRUCTION     assign a task, e.g. assign embodiment:franka put the cup on the coaster
          budget SELECTOR MS              set the latency budget in ms
          estop SELECTOR [--deadline-ms MS]
                                          emergency stop, per robot: confirmed (persisted) or not and why;
                                          unconfirmed robots are retried until the deadline; exit 3 if any stays unconfirmed
          resume SELECTOR [--deadline-ms MS]
                                          resume after an e-stop (same answer and exit codes)
          assignments                     standing assignments (replayed onto robots that register later)
          assignments delete ID           delete a standing assignment
          lease release ROBOT [--to AGENT]
                                          end a robot's lease; with --to only AGENT may bind next (a take)
          models                          models and live threshold versions
          thresholds MODEL                threshold versions of a model
          live MODEL VERSION              make a threshold version live (roll back)
          calibrate MODEL DATASET_DIR [--shards N] [--r 1.0,0.7] [--family exp] [--make-live NAME] [--no-wait]
                                          run a calibration job on the cluster, with progress
          calibration JOB | cancel-calibration JOB
          schedule-calibration MODEL DATASET_DIR --every MINUTES [--first-in SECONDS] [--always] [--shards N] [--r ..] [--family ..] [--make-live NAME]
                                          recalibrate on a reminder (by default only when the model or dataset changed)
          calibration-schedule MODEL [--run-now] | unschedule-calibration MODEL
          keys | create-key NAME viewer|operator|admin | revoke-key KEY_ID
                                          operator API keys (admin); the new key is printed once
          robot-credentials ROBOT | issue-credential ROBOT [--name NAME] | revoke-credential ROBOT CREDENTIAL_ID
                                          a robot's credentials (operator); a credential speaks only for its robot
          audit [--since TIME] [--limit N]  the audit log, newest first (admin)
          compat presets | compat show ROBOT | compat clear ROBOT
          compat set ROBOT --preset NAME --model MODEL [--embodiment KIND] [--instruction prompt|task]
                     [--metadata JSON] [--cameras K1,K2] [--camera-order N1,N2,..] [--state-keys K1,K2] [--control-hz HZ]
                     [--robot-budget MIN..MAX]    (the range the robot may set its own latency budget in, ms)
                                          how a robot that speaks openpi or A1's HTTP API maps onto its model (operator);
                                          see docs/compatible-protocols.md
        SELECTOR: all | robot:ID | tag:NAME | embodiment:franka|agibot|openarm|dobot
        """;

    private static async Task<int> Compat(OperatorClient client, List<string> list, TextWriter output, CancellationToken ct)
    {
        switch (Arg(list, 1))
        {
            case "presets" when list.Count == 2:
                Table.Write(output, ["preset", "protocol", "cameras (model order)", "camera order", "state keys"], (await client.CompatPresetList(ct)).Select(p => new[]
                {
                    p.Name, p.Protocol, string.Join(",", p.Cameras), p.CameraOrder.Count == 0 ? "-" : string.Join(",", p.CameraOrder), p.StateKeys.Count == 0 ? "proprio_data" : string.Join(",", p.StateKeys),
                }).ToList());
                return 0;
            case "show" when list.Count == 3:
                WriteProfile(await client.CompatProfile(list[2], ct), output);
                return 0;
            case "clear" when list.Count == 3:
                await client.ClearCompatProfile(list[2], ct);
                output.WriteLine($"compatible-protocol profile of {list[2]} removed");
                return 0;
            case "set" when list.Count >= 3:
            {
                var (budgetMin, budgetMax) = Take(list, "--robot-budget") is { } range ? BudgetRange(range) : (null, null);
                var request = new CompatProfileRequest(
                    Take(list, "--preset"), Take(list, "--model"), Take(list, "--protocol"), Take(list, "--embodiment"),
                    Take(list, "--cameras")?.Split(','), Take(list, "--camera-order")?.Split(','), Take(list, "--state-keys")?.Split(','),
                    Take(list, "--instruction"),
                    Take(list, "--metadata") is { } json ? ParseJson(json) : null,
                    Take(list, "--control-hz") is { } hz ? Number(hz, "--control-hz") : null,
                    budgetMin, budgetMax);
                if (list.Count != 3)
                {
                    throw new ArgumentException($"unexpected arguments: {string.Join(' ', list.Skip(3))}");
                }

                WriteProfile(await client.SetCompatProfile(list[2], request, ct), output);
                return 0;
            }

            default:
                throw new ArgumentException("compat: use 'compat presets', 'compat show ROBOT', 'compat set ROBOT --preset NAME --model MODEL ...' or 'compat clear ROBOT'");
        }
    }

    private static (double?, double?) BudgetRange(string range)
    {
        var parts = range.Split("..");
        return parts.Length == 2 ? (Number(parts[0], "--robot-budget"), Number(parts[1], "--robot-budget"))
            : throw new ArgumentException($"--robot-budget '{range}' must be MIN..MAX in ms, e.g. 50..200");
    }

    private static System.Text.Json.JsonElement ParseJson(string json)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return document.RootElement.Clone();
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new ArgumentException($"--metadata is not JSON: {ex.Message}");
        }
    }

    private static void WriteProfile(CompatProfileView p, TextWriter output)
    {
        output.WriteLine($"robot        {p.RobotId}");
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

    private static async Task<int> Audit(OperatorClient client, List<string> list, TextWriter output, CancellationToken ct)
    {
        var since = Take(list, "--since");
        var limit = Take(list, "--limit");
        if (list.Count != 1)
        {
            throw new ArgumentException($"unexpected arguments: {string.Join(' ', list.Skip(1))}");
        }

        var entries = await client.Audit(
            since is null ? null : DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var s) ? s : throw new ArgumentException($"--since '{since}' is not a time (e.g. 2026-01-31T12:00:00Z)"),
            limit is null ? null : (int)Number(limit, "--limit"),
            ct);
        Table.Write(output, ["#", "at", "who", "role", "call", "target", "status", "parameters"], entries.Select(e => new[]
        {
            e.Sequence.ToString(CultureInfo.InvariantCulture), e.At.ToString("u", CultureInfo.InvariantCulture),
            e.CredentialId is null ? "(no valid key)" : $"{e.CredentialName} ({e.CredentialId})", e.Role ?? "-",
            $"{e.Method} {e.Route}", e.Target ?? "-", e.Status.ToString(CultureInfo.InvariantCulture), Trim(e.Parameters ?? "-", 60),
        }).ToList());
        return 0;
    }

    private static int Credentials(List<CredentialInfo> credentials, TextWriter output)
    {
        Table.Write(output, ["id", "name", "role/robot", "created", "by", "revoked"], credentials.Select(c => new[]
        {
            c.Id, c.Name, c.Role?.ToString().ToLowerInvariant() ?? c.RobotId ?? "-", c.CreatedAt.ToString("u", CultureInfo.InvariantCulture), c.CreatedBy,
            c.RevokedAt is { } at ? $"{at:u} by {c.RevokedBy}" : "",
        }).ToList());
        return 0;
    }

    private static int Created(CreatedCredential created, TextWriter output)
    {
        var c = created.Credential;
        output.WriteLine(Printable.Escape($"created {created.Id} ({c.Name}, {c.Role?.ToString().ToLowerInvariant() ?? "robot " + c.RobotId}); the key is shown only now:"));
        output.WriteLine(Printable.Escape(created.Key));
        return 0;
    }

    private static int Revoked(CredentialInfo revoked, TextWriter output)
    {
        output.WriteLine(Printable.Escape($"revoked {revoked.Id} ({revoked.Name}) at {revoked.RevokedAt:u}: refused from its next request on"));
        return 0;
    }

    private static async Task<int> Robots(OperatorClient client, string selector, TextWriter output, CancellationToken ct)
    {
        WriteRobots(await client.Robots(Selector(selector), ct), output);
        return 0;
    }

    private static async Task<int> Watch(OperatorClient client, List<string> list, TextWriter output, CancellationToken ct)
    {
        var count = int.Parse(Take(list, "--count") ?? "0", CultureInfo.InvariantCulture);
        var selector = Selector(Arg(list, 1) ?? "all");
        for (var i = 0; count == 0 || i < count; i++)
        {
            output.WriteLine($"-- {DateTime.Now:HH:mm:ss}");
            WriteRobots(await client.Robots(selector, ct), output);
            if (count == 0 || i + 1 < count)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }

        return 0;
    }

    internal static void WriteRobots(IReadOnlyList<RobotStatus> robots, TextWriter output)
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
        Table.Write(output, ["robot", "kind", "state", "agent", "via", "task", "budget", "chunks", "exit", "p50 ms", "p99 ms", "misses", "refused", "forced", "holds", "success"], rows);
        output.WriteLine($"{robots.Count} robot(s)");
    }

    private static int Models(List<ModelInfo> models, TextWriter output)
    {
        Table.Write(output, ["model", "live version", "live set", "versions"], models.Select(m => new[]
        {
            m.ModelId, m.LiveVersion ?? "-", m.Versions.FirstOrDefault(v => v.Live)?.Name ?? "-", m.Versions.Count.ToString(CultureInfo.InvariantCulture),
        }).ToList());
        return 0;
    }

    private static int Thresholds(ModelInfo model, TextWriter output)
    {
        Table.Write(output, ["version", "set", "samples", "layers run", "published", "live"], model.Versions.Select(v => new[]
        {
            v.Version, v.Name, v.SampleCount.ToString(CultureInfo.InvariantCulture), v.ExpectedLayerFraction.ToString("P1", CultureInfo.InvariantCulture),
            v.PublishedAt.ToString("u", CultureInfo.InvariantCulture), v.Live ? "*" : "",
        }).ToList());
        return 0;
    }

    private static int Live(ThresholdVersionInfo info, string model, TextWriter output)
    {
        output.WriteLine(Printable.Escape($"{model}: threshold version {info.Version} ({info.Name}) is live; inference grains switch at their next batch"));
        return 0;
    }

    private static async Task<int> Calibrate(OperatorClient client, List<string> list, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var shards = Take(list, "--shards");
        var rs = Take(list, "--r");
        var family = Take(list, "--family");
        var makeLive = Take(list, "--make-live");
        var noWait = list.Remove("--no-wait");
        var request = new StartCalibrationRequest(
            list[1],
            Path.GetFullPath(list[2]),
            Families: family?.Split(','),
            Rs: rs?.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(),
            Shards: shards is null ? null : int.Parse(shards, CultureInfo.InvariantCulture),
            MakeLive: makeLive);
        var status = await client.StartCalibration(request, ct);
        output.WriteLine($"calibration job {status.JobId}: {status.ShardsTotal} shards, {status.SamplesTotal} samples");
        while (!noWait && status.State == CalibrationJobState.Running)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            status = await client.Calibration(status.JobId, ct);
            var share = status.SamplesTotal == 0 ? 0 : (double)status.SamplesDone / status.SamplesTotal;
            var bar = new string('#', (int)(share * 30)).PadRight(30, '.');
            error.Write($"\r[{bar}] {status.SamplesDone}/{status.SamplesTotal} samples, {status.ShardsDone}/{status.ShardsTotal} shards ({status.ShardsRunning} running)" +
                        (status.EtaSeconds is { } eta ? $", ETA {eta:F0} s   " : "   "));
        }

        error.WriteLine();
        return CalibrationStatus(status, output);
    }

    private static SetCalibrationScheduleRequest ScheduleRequest(List<string> list)
    {
        var every = Take(list, "--every") ?? throw new ArgumentException("schedule-calibration needs --every MINUTES");
        var firstIn = Take(list, "--first-in");
        var shards = Take(list, "--shards");
        var rs = Take(list, "--r");
        var family = Take(list, "--family");
        var makeLive = Take(list, "--make-live");
        var always = list.Remove("--always");
        if (list.Count != 3)
        {
            throw new ArgumentException($"unexpected arguments: {string.Join(' ', list.Skip(3))}");
        }

        return new SetCalibrationScheduleRequest(
            Path.GetFullPath(list[2]),
            Number(every, "--every"),
            FirstRunAfterSeconds: firstIn is null ? null : Number(firstIn, "--first-in"),
            OnlyWhenChanged: !always,
            Families: family?.Split(','),
            Rs: rs?.Split(',').Select(v => Number(v, "--r")).ToArray(),
            Shards: shards is null ? null : (int)Number(shards, "--shards"),
            MakeLive: makeLive);
    }

    private static int ScheduleStatus(CalibrationScheduleStatus status, TextWriter output)
    {
        if (status.Schedule is not { } schedule)
        {
            output.WriteLine($"model {status.ModelId}: no calibration schedule");
        }
        else
        {
            var job = schedule.Job;
            output.WriteLine($"model {status.ModelId}: every {schedule.Every}{(schedule.OnlyWhenChanged ? ", when the model or dataset changed" : "")}, next {status.NextRunAt:u}");
            output.WriteLine($"  dataset {job.DatasetDirectory}; families {string.Join(",", job.Families)}, r {string.Join(",", job.Rs.Select(r => r.ToString(CultureInfo.InvariantCulture)))}, " +
                             $"{job.Shards} shards{(job.MakeLive is null ? "" : $", make live {job.MakeLive}")}");
        }

        if (status.History.Length > 0)
        {
            Table.Write(output, ["at", "outcome", "job", "detail"], status.History.Select(r => new[] { r.At.ToString("u", CultureInfo.InvariantCulture), r.Outcome.ToString(), r.JobId ?? "-", Trim(r.Detail, 70) }).ToList());
        }

        return 0;
    }

    private static int ScheduledRun(ScheduledRun run, TextWriter output)
    {
        output.WriteLine(Printable.Escape($"{run.Outcome}{(run.JobId is null ? "" : $" (job {run.JobId})")}: {run.Detail}"));
        return run.Outcome == ScheduledRunOutcome.Refused ? 1 : 0;
    }

    private static double Number(string text, string option) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : throw new ArgumentException($"{option} '{text}' is not a number");

    private static int CalibrationStatus(CalibrationJobStatus status, TextWriter output)
    {
        output.WriteLine(Printable.Escape($"job {status.JobId}: {status.State}, {status.ShardsDone}/{status.ShardsTotal} shards, {status.SamplesDone}/{status.SamplesTotal} samples" +
                         (status.Error is null ? "" : $", error: {status.Error}")));
        if (status.Published.Length > 0)
        {
            Table.Write(output, ["version", "set", "samples", "layers run", "live"], status.Published.Select(v => new[]
            {
                v.Version, v.Name, v.SampleCount.ToString(CultureInfo.InvariantCulture), v.ExpectedLayerFraction.ToString("P1", CultureInfo.InvariantCulture), v.Live ? "*" : "",
            }).ToList());
        }

        return status.State is CalibrationJobState.Failed ? 1 : 0;
    }

    private static int Report(CommandResponse response, string verb, TextWriter output)
    {
        output.WriteLine(Printable.Escape($"{verb} {response.Robots.Count} robot(s): {string.Join(", ", response.Robots)}"));
        return 0;
    }

    private static int Assigned(CommandResponse response, TextWriter output)
    {
        output.WriteLine(response.Message ?? $"assigned {response.Robots.Count} robot(s)");
        if (response.Robots.Count > 0)
        {
            output.WriteLine($"robots: {string.Join(", ", response.Robots)}");
        }

        return 0;
    }

    /// <summary>Exit code when an e-stop or resume left a robot unconfirmed: distinct from 1 (refused or unreachable).</summary>
    internal const int NotConfirmedExitCode = 3;

    private static int Safety(SafetyCommandReport report, string verb, TextWriter output, TextWriter error)
    {
        Table.Write(output, ["robot", "confirmed", "generation", "persisted", "pushed", "online", "attempts", "why"], report.Robots.Select(r => new[]
        {
            r.RobotId, r.Confirmed ? "yes" : "NO", r.Generation.ToString(CultureInfo.InvariantCulture), r.Persisted ? "yes" : "no", r.Pushed ? "yes" : "no",
            r.AgentOnline ? "yes" : "no", r.Attempts.ToString(CultureInfo.InvariantCulture), r.Error ?? "",
        }).ToList());
        var confirmed = report.Robots.Count(r => r.Confirmed);
        output.WriteLine($"{verb} {confirmed} of {report.Robots.Count} robot(s) confirmed");
        if (report.AllConfirmed)
        {
            return 0;
        }

        error.WriteLine($"error: {report.Error ?? "not every robot was confirmed"}");
        return NotConfirmedExitCode;
    }

    private static int Assignments(List<Assignment> assignments, TextWriter output)
    {
        Table.Write(output, ["id", "selector", "task", "by", "at"], assignments.Select(a => new[]
        {
            a.Id.ToString(CultureInfo.InvariantCulture), a.Selector.ToString(), Trim(a.Instruction, 48), a.AssignedBy, a.At.ToString("u", CultureInfo.InvariantCulture),
        }).ToList());
        output.WriteLine($"{assignments.Count} assignment(s)");
        return 0;
    }

    private static async Task<int> DeleteAssignment(OperatorClient client, string id, TextWriter output, CancellationToken ct)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            throw new ArgumentException($"assignment id '{id}' is not a number (see a1ctl assignments)");
        }

        await client.DeleteAssignment(parsed, ct);
        output.WriteLine($"assignment {parsed} deleted: robots that register later no longer take it");
        return 0;
    }

    private static int LeaseReleased(RobotStatus status, string? successor, TextWriter output)
    {
        output.WriteLine($"{status.RobotId}: lease released (epoch now {status.Epoch}); next bind: {successor ?? "any agent"}");
        return 0;
    }

    private static int Fail(TextWriter error, string message)
    {
        // Messages quote what clients sent (names, instructions): nothing in them may drive the terminal.
        error.WriteLine($"error: {EscapeLines(message)}");
        return 1;
    }

    private static string Selector(string text) =>
        RobotSelector.TryParse(text, out var selector, out var problem) ? selector.ToString() : throw new ArgumentException(problem);

    /// <summary>The shared budget rule with the grains' floor; the silo applies its own, higher floor and names it.</summary>
    private static double Ms(string text) =>
        !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) ? throw new ArgumentException($"'{Printable.Escape(text)}' is not a number of milliseconds")
        : InputRules.LatencyBudget(ms, field: "budget") is { } problem ? throw new ArgumentException(problem)
        : ms;

    /// <summary>Refused here with the server's words, so a bad instruction never leaves the operator's machine.</summary>
    private static string Instruction(string text) => InputRules.Instruction(text) is { } problem ? throw new ArgumentException(problem) : text;

    private static string EscapeLines(string text) => string.Join('\n', text.Split('\n').Select(Printable.Escape));

    private static string? Arg(List<string> list, int index) => index < list.Count ? list[index] : null;

    private static string? Take(List<string> list, string name)
    {
        var i = list.IndexOf(name);
        if (i < 0 || i + 1 >= list.Count)
        {
            return null;
        }

        var value = list[i + 1];
        list.RemoveRange(i, 2);
        return value;
    }

    private static string Trim(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";
}
