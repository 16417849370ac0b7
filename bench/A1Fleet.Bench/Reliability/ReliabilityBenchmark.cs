using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ProcessHarness;

namespace A1Fleet.Bench.Reliability;

/// <summary>
/// The reliability suite: the issue's safety and recovery figures measured on real processes on loopback (see
/// docs/benchmarks.md, "Reliability"). Every figure is counted from what the processes answered; a scenario that
/// throws leaves its figures null and says why, and the others still run.
/// </summary>
internal static class ReliabilityBenchmark
{
    private const string ModelId = "tiny-fm";
    private const string Instruction = "pick up the red block";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record Sizes(int Agents, int FailoverCycles, int FuzzRequests, TimeSpan FuzzLimit, TimeSpan EStopDeadline);

    public static async Task<int> RunAsync(BenchArgs args)
    {
        var sizes = args.Quick
            ? new Sizes(Agents: 4, FailoverCycles: 2, FuzzRequests: 2_000, FuzzLimit: TimeSpan.FromSeconds(60), EStopDeadline: TimeSpan.FromSeconds(20))
            : new Sizes(Agents: 8, FailoverCycles: 5, FuzzRequests: 10_000, FuzzLimit: TimeSpan.FromSeconds(240), EStopDeadline: TimeSpan.FromSeconds(20));
        var log = Console.Out;
        var started = Stopwatch.GetTimestamp();
        var models = Directory.CreateTempSubdirectory("a1fleet-reliability-models-").FullName;
        var json = new JsonObject
        {
            ["command"] = "dotnet run -c Release --project bench/A1Fleet.Bench -- reliability" + (args.Quick ? " --quick" : ""),
            ["quick"] = args.Quick,
            ["machine"] = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}",
            ["started_at"] = DateTimeOffset.UtcNow.ToString("u"),
            ["sizes"] = new JsonObject
            {
                ["agents"] = sizes.Agents, ["silos"] = 2, ["failover_cycles"] = sizes.FailoverCycles, ["fuzz_requests"] = sizes.FuzzRequests,
                ["fuzz_limit_seconds"] = sizes.FuzzLimit.TotalSeconds, ["estop_deadline_ms"] = sizes.EStopDeadline.TotalMilliseconds, ["model"] = ModelId,
            },
        };
        var scenarios = new JsonObject();
        using var fleet = new ReliabilityFleet(ReferencePackages.Ensure(ModelId, models, log), ModelId);
        try
        {
            log.WriteLine($"reliability{(args.Quick ? " --quick" : "")}: redis-server, 2 silos, {sizes.Agents} a1-agents on loopback");
            await fleet.StartAsync(sizes.Agents, log);
            using (var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(20)))
            {
                await ReliabilityFleet.PostAsync(admin, "/api/assignments", new { selector = "all", instruction = Instruction });
            }

            var zero = fleet.Agents.ToDictionary(a => a.RobotId, _ => 0L);
            if (await ReliabilityFleet.WaitAsync(() => fleet.AllServedSinceAsync(zero, 3), TimeSpan.FromSeconds(120)) is null)
            {
                throw new TimeoutException($"the agents were not served 3 chunks each within 120 s of starting: {JsonSerializer.Serialize(await fleet.StatusesAsync())}\n" +
                                           fleet.Silos[0].Process.Output);
            }

            var context = await IdentityContext.CreateAsync(fleet);
            await Scenario(scenarios, "identity", log, async () => await IdentityScenario.RunAsync(fleet, context, log));
            await Scenario(scenarios, "fuzz", log, async () =>
            {
                using var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(20));
                var probe = await ReliabilityFleet.PostAsync(admin, "/api/robots/fuzz-probe-01/credentials", new { name = "bench-fuzz" });
                var crashedBefore = fleet.CrashedSilos().Count;
                var result = await new FuzzScenario(fleet, context.OperatorKey, context.ViewerKey, "fuzz-probe-01", probe.GetProperty("key").GetString()!)
                    .RunAsync(sizes.FuzzRequests, sizes.FuzzLimit, log);
                result["silo_crashes_in_window"] = fleet.CrashedSilos().Count - crashedBefore;
                return result;
            });
            await Scenario(scenarios, "estop_failover", log, () => EStopFailoverAsync(fleet, sizes, log));
            await Scenario(scenarios, "silo_kill", log, () => SiloKillAsync(fleet, slot: 1 - ((sizes.FailoverCycles - 1) % 2), log));
            await Scenario(scenarios, "redis_restart", log, () => RedisRestartAsync(fleet, log));
            await Scenario(scenarios, "agent_kill", log, () => AgentKillAsync(fleet, log));
        }
        catch (Exception e)
        {
            json["error"] = $"{e.GetType().Name}: {e.Message}";
            log.WriteLine($"reliability run failed: {e}");
        }

        // Joint limits last: every command every agent sent during all the scenarios above, as each driver counted it.
        var statuses = await fleet.StatusesAsync();
        var live = statuses.Values.Sum(s => s?.DriverLimitViolations ?? 0);
        scenarios["joint_limits"] = new JsonObject
        {
            ["per_agent"] = new JsonObject(statuses.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)(kv.Value?.DriverLimitViolations)))),
            ["of_killed_agents"] = fleet.ViolationsOfKilledAgents,
            ["unanswered_agents"] = statuses.Count(kv => kv.Value is null),
        };
        scenarios["crashes"] = new JsonObject
        {
            ["silos_exited_unasked"] = new JsonArray([.. fleet.CrashedSilos().Select(s => (JsonNode)$"{s.Process.Name} exit {s.Process.ExitCode}")]),
            ["agents_exited_unasked"] = new JsonArray([.. fleet.CrashedAgents().Select(a => (JsonNode)$"{a.RobotId} exit {a.Process!.ExitCode}")]),
        };

        var identity = scenarios["identity"] as JsonObject;
        var gateway = identity?["gateway"] as JsonObject;
        var fuzz = scenarios["fuzz"] as JsonObject;
        var estops = scenarios["estop_failover"] as JsonObject;
        json["unauthenticated_mutations_accepted"] = identity is null ? null : (int)identity["operator_requests_accepted"]! + (int)gateway!["unauthenticated_calls_accepted"]!;
        json["cross_robot_requests_accepted"] = gateway?["cross_robot_calls_accepted"]?.DeepClone();
        json["estops_issued_during_failover"] = estops?["issued"]?.DeepClone();
        json["estops_lost"] = estops?["lost"]?.DeepClone();
        json["estop_to_hold_ms_p99"] = estops?["hold_ms_p99"]?.DeepClone();
        json["joint_limit_violations_sent_to_driver"] = statuses.Values.Any(s => s is null) ? null : live + fleet.ViolationsOfKilledAgents;
        json["malformed_requests_sent"] = fuzz?["malformed_requests_sent"]?.DeepClone();
        json["silo_crashes"] = fleet.CrashedSilos().Count;
        json["good_requests_failed_during_fuzz"] = fuzz?["good_requests_failed"]?.DeepClone();
        json["state_lost_after_redis_restart"] = scenarios["redis_restart"]?["state_lost"]?.DeepClone();
        json["recovery_seconds_silo_kill"] = scenarios["silo_kill"]?["recovery_seconds"]?.DeepClone();
        json["recovery_seconds_redis_restart"] = scenarios["redis_restart"]?["recovery_seconds"]?.DeepClone();
        json["recovery_seconds_agent_kill"] = scenarios["agent_kill"]?["recovery_seconds"]?.DeepClone();
        json["duration_seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
        json["scenarios"] = scenarios;

        PrintTable(json, log);
        Directory.CreateDirectory(args.OutputDirectory);
        var path = Path.Combine(args.OutputDirectory, "reliability.json");
        await File.WriteAllTextAsync(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        log.WriteLine($"wrote {path}");
        try
        {
            Directory.Delete(models, recursive: true);
        }
        catch (IOException)
        {
        }

        return json["error"] is null ? 0 : 1;
    }

    private static readonly string[] Keys =
    [
        "unauthenticated_mutations_accepted", "cross_robot_requests_accepted", "estops_issued_during_failover", "estops_lost", "estop_to_hold_ms_p99",
        "joint_limit_violations_sent_to_driver", "malformed_requests_sent", "silo_crashes", "good_requests_failed_during_fuzz",
        "state_lost_after_redis_restart", "recovery_seconds_silo_kill", "recovery_seconds_redis_restart", "recovery_seconds_agent_kill",
    ];

    private static void PrintTable(JsonObject json, TextWriter log)
    {
        log.WriteLine();
        log.WriteLine($"| figure | value |");
        log.WriteLine($"|---|---|");
        foreach (var key in Keys)
        {
            log.WriteLine($"| `{key}` | {json[key]?.ToJsonString() ?? "null (see scenarios)"} |");
        }
    }

    private static async Task Scenario(JsonObject scenarios, string name, TextWriter log, Func<Task<JsonObject>> run)
    {
        log.WriteLine($"[{name}]");
        var started = Stopwatch.GetTimestamp();
        try
        {
            scenarios[name] = await run();
        }
        catch (Exception e)
        {
            log.WriteLine($"  {name} failed: {e}");
            scenarios[name] = new JsonObject { ["error"] = $"{e.GetType().Name}: {e.Message}" };
        }

        ((JsonObject)scenarios[name]!)["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
    }

    /// <summary>
    /// Scenario 2: agents moving; SIGKILL one silo; 0.3 s later an e-stop of all robots (with a deadline) to the survivor.
    /// Lost = a robot the report does not confirm, or an agent that does not hold: not latched on the report's generation
    /// within the deadline, or still executing chunks a second after latching. Between cycles the killed silo is
    /// restarted and the fleet resumed until every agent is served again.
    /// </summary>
    private static async Task<JsonObject> EStopFailoverAsync(ReliabilityFleet fleet, Sizes sizes, TextWriter log)
    {
        var issued = 0;
        var lost = 0;
        var holdMs = new List<double>();
        var routes = new Dictionary<string, int>(StringComparer.Ordinal);
        var chunksAfterConfirmation = 0L;
        var movingAfterConfirmation = 0;
        var notLatchedButStill = 0;
        var cycles = new JsonArray();
        var lostWhy = new JsonArray();
        for (var cycle = 0; cycle < sizes.FailoverCycles; cycle++)
        {
            var killed = cycle % 2;
            var survivor = fleet.Silos[1 - killed];
            var moving = await fleet.ChunksAsync();
            if (await ReliabilityFleet.WaitAsync(() => fleet.AllServedSinceAsync(moving, 2), TimeSpan.FromSeconds(60)) is null)
            {
                throw new TimeoutException($"cycle {cycle}: the agents were not moving before the kill");
            }

            fleet.KillSilo(killed);
            await Task.Delay(300);
            var sentAt = DateTimeOffset.UtcNow;
            SafetyCommandReport? report = null;
            string? postError = null;
            using (var http = ReliabilityFleet.Api(survivor, sizes.EStopDeadline + TimeSpan.FromSeconds(15)))
            {
                try
                {
                    using var response = await http.PostAsJsonAsync("/api/estop", new { selector = "all", deadlineMs = sizes.EStopDeadline.TotalMilliseconds }, Json);
                    var body = await response.Content.ReadAsStringAsync();
                    try
                    {
                        report = JsonSerializer.Deserialize<SafetyCommandReport>(body, Json);
                    }
                    catch (JsonException)
                    {
                    }

                    // A problem body (any non-report answer) parses too, with no robots: that is no answer per robot.
                    if (report?.Robots is null)
                    {
                        report = null;
                        postError = $"{(int)response.StatusCode} {body}";
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    postError = e.Message;
                }
            }

            var answeredMs = (DateTimeOffset.UtcNow - sentAt).TotalMilliseconds;
            var atAnswer = await fleet.StatusesAsync();
            var results = report?.Robots.ToDictionary(r => r.RobotId) ?? [];
            var cycleLost = 0;
            issued += Math.Max(results.Count, fleet.Agents.Count);
            foreach (var r in results.Values.Where(r => !r.Confirmed))
            {
                cycleLost++;
                lostWhy.Add($"cycle {cycle}: {r.RobotId} not confirmed: {r.Error}");
            }

            foreach (var agent in fleet.Agents.Where(a => !results.ContainsKey(a.RobotId)))
            {
                cycleLost++;
                lostWhy.Add($"cycle {cycle}: {agent.RobotId} not in the e-stop's answer ({postError ?? report?.Error})");
            }

            // At the agents: latched on (at least) the confirmed generation within the deadline, then not moving.
            var confirmed = fleet.Agents.Where(a => results.TryGetValue(a.RobotId, out var r) && r.Confirmed).ToList();
            await ReliabilityFleet.WaitAsync(async () =>
            {
                var now = await fleet.StatusesAsync();
                return confirmed.All(a => now[a.RobotId] is { EStopped: true } s && s.EStopGeneration >= results[a.RobotId].Generation);
            }, sizes.EStopDeadline);
            var latched = await fleet.StatusesAsync();
            await Task.Delay(TimeSpan.FromSeconds(1));
            var later = await fleet.StatusesAsync();
            var cycleHold = new List<double>();
            var cycleRoutes = new List<string>();
            var cycleMoving = 0;
            foreach (var agent in confirmed)
            {
                var result = results[agent.RobotId];

                // Chunks an agent executed after the fleet had confirmed its e-stop (the answer was in) and before it latched.
                if (atAnswer[agent.RobotId] is { } seen && !(seen.EStopped && seen.EStopGeneration >= result.Generation)
                    && latched[agent.RobotId] is { } then && then.ChunksExecuted > seen.ChunksExecuted)
                {
                    cycleMoving++;
                    chunksAfterConfirmation += then.ChunksExecuted - seen.ChunksExecuted;
                }

                if (latched[agent.RobotId] is not { EStopped: true } s || s.EStopGeneration < result.Generation)
                {
                    // Counted lost: not latched within the deadline. Whether the arm was still, held for want of
                    // chunks (phase Starved/Holding), is said too: a lost latch on a still arm is not a moving arm.
                    cycleLost++;
                    var moved = latched[agent.RobotId]?.ChunksExecuted - atAnswer[agent.RobotId]?.ChunksExecuted;
                    if (moved == 0)
                    {
                        notLatchedButStill++;
                    }

                    lostWhy.Add($"cycle {cycle}: {agent.RobotId} confirmed (generation {result.Generation}) but the agent did not latch it within " +
                                $"{sizes.EStopDeadline.TotalSeconds:F0} s; chunks executed meanwhile: {moved?.ToString() ?? "unknown"}; agent: {JsonSerializer.Serialize(latched[agent.RobotId])}");
                    continue;
                }

                if (later[agent.RobotId] is not { EStopped: true } l || l.ChunksExecuted != s.ChunksExecuted)
                {
                    cycleLost++;
                    lostWhy.Add($"cycle {cycle}: {agent.RobotId} latched but executed {later[agent.RobotId]?.ChunksExecuted - s.ChunksExecuted} chunk(s) in the next second");
                    continue;
                }

                if (s.EStopLatchedAt is { } at && result.PersistedAt is { } persisted)
                {
                    cycleHold.Add((at - persisted).TotalMilliseconds);
                    var route = $"{agent.RobotId} {s.EStopRoute ?? "unknown"}";
                    cycleRoutes.Add(route);
                    routes[s.EStopRoute ?? "unknown"] = routes.GetValueOrDefault(s.EStopRoute ?? "unknown") + 1;
                }
            }

            holdMs.AddRange(cycleHold);
            movingAfterConfirmation += cycleMoving;
            lost += cycleLost;
            cycles.Add(new JsonObject
            {
                ["killed"] = killed == 0 ? "silo-1" : "silo-2",
                ["robots_in_answer"] = results.Count,
                ["all_confirmed"] = report?.AllConfirmed,
                ["answer_ms"] = Math.Round(answeredMs),
                ["max_attempts"] = results.Count == 0 ? null : results.Values.Max(r => r.Attempts),
                ["pushed_to_agent"] = results.Values.Count(r => r.Pushed),
                ["robots_moving_after_confirmation"] = cycleMoving,
                ["hold_ms"] = new JsonArray([.. cycleHold.Select(h => (JsonNode)Math.Round(h, 1))]),
                ["hold_robot_and_route"] = new JsonArray([.. cycleRoutes.Select(r => (JsonNode)r)]),
                ["lost"] = cycleLost,
                ["error"] = postError ?? report?.Error,

                // What the survivor logged when the e-stop got no per-robot answer: the exception behind a 500.
                ["survivor_log_tail"] = postError is null ? null : string.Join('\n', survivor.Process.Output.Split('\n').TakeLast(60)),
                ["hold_ms_max"] = cycleHold.Count == 0 ? null : Math.Round(cycleHold.Max(), 1),
            });
            log.WriteLine($"  cycle {cycle}: killed silo {killed + 1}, e-stop answered in {answeredMs:F0} ms for {results.Count} robots, lost {cycleLost}, " +
                          $"hold max {(cycleHold.Count == 0 ? "-" : cycleHold.Max().ToString("F1"))} ms");

            await fleet.RestartSiloAsync(killed);
            var stopped = await fleet.ChunksAsync();
            using (var http = ReliabilityFleet.Api(survivor, TimeSpan.FromSeconds(40)))
            {
                await ReliabilityFleet.PostAsync(http, "/api/resume", new { selector = "all", deadlineMs = sizes.EStopDeadline.TotalMilliseconds });
            }

            if (await ReliabilityFleet.WaitAsync(() => fleet.AllServedSinceAsync(stopped, 3), TimeSpan.FromSeconds(90)) is null)
            {
                throw new TimeoutException($"cycle {cycle}: the agents were not served again within 90 s of the resume: {JsonSerializer.Serialize(await fleet.StatusesAsync())}");
            }
        }

        var periods = (await ReliabilityFleet.RobotsAsync(fleet.Any)).Where(r => r.ControlHz > 0).Select(r => 1000 / r.ControlHz).ToList();
        return new JsonObject
        {
            ["issued"] = issued,
            ["lost"] = lost,
            ["hold_ms_p99"] = holdMs.Count == 0 ? null : Math.Round(Stats.Percentile(holdMs, 0.99), 1),
            ["hold_ms_p50"] = holdMs.Count == 0 ? null : Math.Round(Stats.Percentile(holdMs, 0.50), 1),
            ["hold_ms_min"] = holdMs.Count == 0 ? null : Math.Round(holdMs.Min(), 1),
            ["hold_samples"] = holdMs.Count,
            ["hold_samples_within_50_ms"] = holdMs.Count(h => h <= 50),
            ["hold_routes"] = new JsonObject(routes.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => KeyValuePair.Create(r.Key, (JsonNode?)r.Value))),
            ["robots_moving_after_confirmation"] = movingAfterConfirmation,
            ["lost_not_latched_but_still"] = notLatchedButStill,
            ["chunks_executed_after_confirmation"] = chunksAfterConfirmation,
            ["moving_after_confirmation_means"] = "confirmed robots whose agent had not latched when the e-stop's answer arrived and executed chunks before it latched (agent-side counts)",
            ["longest_control_period_ms"] = periods.Count == 0 ? null : Math.Round(periods.Max(), 1),
            ["hold_measured_as"] = "agent's EStopLatchedAt (the tick that took the e-stop and started the controlled stop; an e-stop wakes the loop between ticks) " +
                                   "minus the confirmation's PersistedAt (grain write returned); same machine clock. The grain pushes an e-stop while it is written, " +
                                   "so an agent may hold before the write returns (a negative sample)",
            ["hold_routes_means"] = "how the e-stop that set each latch reached the agent: pushed (gateway stream, via relay or observer), reply (a chunk request answered e-stopped), bind (the lease of a bind)",
            ["cycles"] = cycles,
            ["lost_why"] = lostWhy,
        };
    }

    /// <summary>Scenario 6a: SIGKILL a silo with every agent moving; seconds until every agent executed 3 more chunks.</summary>
    private static async Task<JsonObject> SiloKillAsync(ReliabilityFleet fleet, int slot, TextWriter log)
    {
        var before = await fleet.ChunksAsync();
        fleet.KillSilo(slot);
        var took = await ReliabilityFleet.WaitAsync(() => fleet.AllServedSinceAsync(before, 3), TimeSpan.FromSeconds(120));
        log.WriteLine($"  every agent served 3 more chunks {took?.TotalSeconds.ToString("F1") ?? "never (120 s)"} s after SIGKILL of silo {slot + 1}");
        await fleet.RestartSiloAsync(slot);
        return new JsonObject
        {
            ["killed"] = $"silo-{slot + 1}",
            ["why_that_silo"] = "it survived the last e-stop cycle, so the grains of the silo killed there reactivated on it: it hosts most of the fleet",
            ["recovery_seconds"] = took is { } t ? Math.Round(t.TotalSeconds, 1) : null,
            ["served_again_means"] = "every agent's own chunks-executed count grew by 3 after the kill",
            ["timeout_seconds"] = 120,
        };
    }

    /// <summary>
    /// Scenario 5: snapshot the safety state, SIGTERM redis-server, start it again on the same AOF directory; count what
    /// differs or vanished, and time until every agent is served again (the e-stopped one must stay held).
    /// </summary>
    private static async Task<JsonObject> RedisRestartAsync(ReliabilityFleet fleet, TextWriter log)
    {
        var held = fleet.Agents[^1];
        using (var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(40)))
        {
            await ReliabilityFleet.PostAsync(admin, "/api/estop", new { selector = $"robot:{held.RobotId}", deadlineMs = 10_000.0 });
            await ReliabilityFleet.PostAsync(admin, "/api/budget", new { selector = "embodiment:franka", budgetMs = 175.0 });
        }

        var moving = fleet.Agents.Where(a => a != held).Select(a => a.RobotId).ToList();
        if (await ReliabilityFleet.WaitAsync(async () => (await fleet.TryStatusAsync(held)) is { EStopped: true }, TimeSpan.FromSeconds(20)) is null)
        {
            throw new TimeoutException($"{held.RobotId} did not latch the e-stop set up before the Redis restart");
        }

        // Let the grains' periodic counter flush and the audit catch up, so the snapshot is what storage holds.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var before = await StateAsync(fleet);
        var heldBefore = await fleet.TryStatusAsync(held);
        var stoppedAt = Stopwatch.GetTimestamp();
        fleet.Cluster.StopRedis();
        fleet.Cluster.StartRedis();
        var down = Stopwatch.GetElapsedTime(stoppedAt);

        // Recovered = every moving agent executed 3 chunks counted from Redis being back, and every silo is ready and takes
        // a write that goes to storage (the budget the robot already has, so the snapshot stays comparable).
        var chunks = await fleet.ChunksAsync();
        var writer = moving[0];
        var budget = before[$"robot {writer}.budget"];
        var served = ReliabilityFleet.WaitAsync(() => fleet.AllServedSinceAsync(chunks, 3, moving), TimeSpan.FromSeconds(120));
        var writable = ReliabilityFleet.WaitAsync(async () =>
        {
            foreach (var silo in fleet.Silos)
            {
                using var http = ReliabilityFleet.Api(silo, TimeSpan.FromSeconds(10));
                using var ready = await http.GetAsync("/health/ready");
                using var write = await http.PostAsJsonAsync("/api/budget", new { selector = $"robot:{writer}", budgetMs = double.Parse(budget, System.Globalization.CultureInfo.InvariantCulture) }, Json);
                if (!ready.IsSuccessStatusCode || !write.IsSuccessStatusCode)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250));
        var (servedAfter, writableAfter) = (await served, await writable);
        TimeSpan? took = servedAfter is { } a && writableAfter is { } b ? (a > b ? a : b) : null;
        log.WriteLine($"  redis down {down.TotalSeconds:F1} s; every moving agent served 3 more chunks {servedAfter?.TotalSeconds.ToString("F1") ?? "never (120 s)"} s " +
                      $"and both silos ready and writing {writableAfter?.TotalSeconds.ToString("F1") ?? "never (120 s)"} s after it was back");

        var after = await StateAsync(fleet);
        var differences = new JsonArray();
        static long AuditSequence(string key) => long.Parse(key["audit ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var auditAfter = after.Keys.Where(k => k.StartsWith("audit ", StringComparison.Ordinal)).Select(AuditSequence).ToList();
        var oldestAuditAfter = auditAfter.Count == 0 ? long.MaxValue : auditAfter.Min();
        var compared = 0;
        foreach (var (key, value) in before)
        {
            if (key.StartsWith("audit ", StringComparison.Ordinal) && AuditSequence(key) < oldestAuditAfter && auditAfter.Count >= 1000)
            {
                // Pushed out of the newest-1000 window by later writes, not lost: not comparable through this API.
                continue;
            }

            compared++;
            if (!after.TryGetValue(key, out var now))
            {
                differences.Add($"vanished: {key} = {value}");
            }
            else if (key.EndsWith(".epoch", StringComparison.Ordinal) ? long.Parse(now) < long.Parse(value) : now != value)
            {
                differences.Add($"changed: {key}: {value} -> {now}");
            }
        }

        var heldAfter = await fleet.TryStatusAsync(held);
        if (heldAfter is not { EStopped: true } || heldAfter.ChunksExecuted != heldBefore!.ChunksExecuted)
        {
            differences.Add($"the e-stopped {held.RobotId} moved or unlatched after the restart: {JsonSerializer.Serialize(heldBefore)} -> {JsonSerializer.Serialize(heldAfter)}");
        }

        using (var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(40)))
        {
            await ReliabilityFleet.PostAsync(admin, "/api/resume", new { selector = $"robot:{held.RobotId}", deadlineMs = 10_000.0 });
        }

        return new JsonObject
        {
            ["state_lost"] = differences.Count,
            ["items_compared"] = compared,
            ["differences"] = differences,
            ["recovery_seconds"] = took is { } t ? Math.Round(t.TotalSeconds, 1) : null,
            ["recovery_measured_from"] = "redis-server accepting connections again, until every moving agent executed 3 more chunks and both silos answer /health/ready 200 and take a budget write",
            ["served_seconds"] = servedAfter is { } s1 ? Math.Round(s1.TotalSeconds, 1) : null,
            ["ready_and_writing_seconds"] = writableAfter is { } s2 ? Math.Round(s2.TotalSeconds, 1) : null,
            ["redis_down_seconds"] = Math.Round(down.TotalSeconds, 1),
            ["compared"] = "per robot: task, task version, e-stop, e-stop generation, budget, embodiment, lease epoch (may only grow); assignments; API keys and revocations; " +
                           "each robot's credentials and revocations; the newest 1000 audit entries; the live threshold version",
        };
    }

    /// <summary>Everything the Redis restart must keep, flattened to key → value.</summary>
    private static async Task<Dictionary<string, string>> StateAsync(ReliabilityFleet fleet)
    {
        using var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(20));
        var state = new Dictionary<string, string>();
        foreach (var r in await ReliabilityFleet.RobotsAsync(fleet.Any))
        {
            state[$"robot {r.RobotId}.task"] = $"{r.Task?.Instruction} v{r.Task?.Version}";
            state[$"robot {r.RobotId}.estop"] = $"{r.EStopped} gen {r.EStopGeneration}";
            state[$"robot {r.RobotId}.budget"] = r.LatencyBudgetMs.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            state[$"robot {r.RobotId}.embodiment"] = $"{r.Embodiment}";
            state[$"robot {r.RobotId}.epoch"] = r.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var a in (await admin.GetFromJsonAsync<List<Assignment>>("/api/assignments", Json))!)
        {
            state[$"assignment {a.Id}"] = $"{a.Selector} {a.Instruction} {a.AssignedBy}";
        }

        foreach (var k in (await admin.GetFromJsonAsync<List<CredentialInfo>>("/api/keys", Json))!)
        {
            state[$"key {k.Id}"] = $"{k.Name} {k.Role} revoked {k.Revoked}";
        }

        foreach (var agent in fleet.Agents)
        {
            foreach (var c in (await admin.GetFromJsonAsync<List<CredentialInfo>>($"/api/robots/{agent.RobotId}/credentials", Json))!)
            {
                state[$"credential {c.Id}"] = $"{c.RobotId} {c.Name} revoked {c.Revoked}";
            }
        }

        // The newest 1000 entries (the API's most). Writes after the snapshot push the oldest out of that window, so the
        // comparison (see RedisRestartAsync) only looks at sequences both reads cover.
        foreach (var e in (await admin.GetFromJsonAsync<List<AuditEntry>>("/api/audit?limit=1000", Json))!)
        {
            state[$"audit {e.Sequence}"] = $"{e.At:O} {e.CredentialId} {e.Method} {e.Route}";
        }

        foreach (var m in (await admin.GetFromJsonAsync<List<ModelInfo>>("/api/models", Json))!)
        {
            state[$"model {m.ModelId}.live"] = $"{m.LiveVersion}";
        }

        // Audit entries written after the snapshot (the restart's own reads are not audited, but anything else is
        // newer): only entries present before are compared, so keys from later sequences are simply extra.
        return state;
    }

    /// <summary>
    /// Scenario 6b: SIGKILL an agent and at once start a replacement process for the same robot with the same credential
    /// (as a supervisor would): seconds until the replacement executed 3 chunks, and until the fleet showed the robot offline.
    /// </summary>
    private static async Task<JsonObject> AgentKillAsync(ReliabilityFleet fleet, TextWriter log)
    {
        var agent = fleet.Agents[1];
        await fleet.KillAgentAsync(agent);
        var killedAt = Stopwatch.GetTimestamp();
        fleet.StartAgentProcess(agent);

        // Offline is watched alongside: the replacement may take the lease back soon after the holder's TTL runs out.
        using var watch = new CancellationTokenSource();
        var offline = Task.Run(async () =>
        {
            using var http = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(5));
            while (!watch.IsCancellationRequested)
            {
                try
                {
                    var robot = await http.GetFromJsonAsync<RobotStatus>($"/api/robots/{agent.RobotId}", Json);
                    if (robot is { Online: false })
                    {
                        return (TimeSpan?)Stopwatch.GetElapsedTime(killedAt);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
                {
                }

                await Task.Delay(50);
            }

            return null;
        });
        var took = await ReliabilityFleet.WaitAsync(async () => (await fleet.TryStatusAsync(agent)) is { ChunksExecuted: >= 3 }, TimeSpan.FromSeconds(60));
        if (!offline.IsCompleted)
        {
            await Task.WhenAny(offline, Task.Delay(TimeSpan.FromSeconds(1)));
            await watch.CancelAsync();
        }

        var offlineAfter = await offline;
        log.WriteLine($"  replacement agent for {agent.RobotId} served {took?.TotalSeconds.ToString("F1") ?? "never (60 s)"} s after SIGKILL; " +
                      $"robot showed offline after {offlineAfter?.TotalSeconds.ToString("F1") ?? "-"} s");
        return new JsonObject
        {
            ["robot"] = agent.RobotId,
            ["recovery_seconds"] = took is { } t ? Math.Round(t.TotalSeconds, 1) : null,
            ["offline_after_seconds"] = offlineAfter is { } o ? Math.Round(o.TotalSeconds, 1) : null,
            ["served_means"] = "the replacement process executed 3 chunks (its own count); it is started right after the kill and bound once the dead holder's lease TTL ran out",
        };
    }
}
