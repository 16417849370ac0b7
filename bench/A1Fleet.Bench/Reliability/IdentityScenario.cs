using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using A1Fleet.Grains;
using A1Fleet.RobotGateway;
using Grpc.Core;
using Grpc.Net.Client;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Bench.Reliability;

/// <summary>
/// Scenario 1: who may act. Every mutating operator endpoint the silo's own OpenAPI document lists is sent with no key,
/// malformed keys, a revoked key and a viewer key (and, where the route is admin-only, an operator key); every robot
/// gateway rpc with no, malformed and revoked robot credentials, and with one robot's valid credential naming the others.
/// </summary>
internal static partial class IdentityScenario
{
    /// <summary>
    /// Admin-only routes per docs/security.md ("admin also makes threshold versions live, starts/cancels calibrations,
    /// sets/runs/clears schedules, creates/lists/revokes API keys"); the operator key is tried on exactly these.
    /// </summary>
    private static bool AdminOnly(string path) =>
        path.StartsWith("/api/keys", StringComparison.Ordinal) || path.StartsWith("/api/calibrations", StringComparison.Ordinal)
        || path.Contains("/calibration-schedule", StringComparison.Ordinal) || path.EndsWith("/live", StringComparison.Ordinal);

    public static async Task<JsonObject> RunAsync(ReliabilityFleet fleet, IdentityContext context, TextWriter log)
    {
        var silo = fleet.Any;
        using var admin = ReliabilityFleet.Api(silo, TimeSpan.FromSeconds(20));
        using var openApi = await admin.GetAsync("/openapi/v1.json");
        var document = JsonNode.Parse(await openApi.Content.ReadAsStringAsync())!;
        var mutations = new List<(string Method, string Template)>();
        foreach (var (template, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, _) in item!.AsObject())
            {
                if (method is "post" or "put" or "patch" or "delete")
                {
                    mutations.Add((method.ToUpperInvariant(), template));
                }
            }
        }

        var attempts = new List<(string Name, string? Authorization, bool AdminOnlyRoutesOnly)>
        {
            ("no key", null, false),
            ("malformed key", "Bearer a1k_not-a-key", false),
            ("garbage bearer", "Bearer " + new string('x', 300), false),
            ("other scheme", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:admin")), false),
            ("admin key in the wrong scheme", "Basic " + ProcessHarness.ProcessCluster.AdminKey, false),
            ("revoked operator key", "Bearer " + context.RevokedOperatorKey, false),
            ("revoked admin key", "Bearer " + context.RevokedAdminKey, false),
            ("viewer key", "Bearer " + context.ViewerKey, false),
            ("operator key", "Bearer " + context.OperatorKey, true),
        };

        var accepted = 0;
        var sent = 0;
        var statuses = new SortedDictionary<string, int>();
        var acceptedList = new JsonArray();
        using var http = new HttpClient { BaseAddress = new Uri(silo.Url), Timeout = TimeSpan.FromSeconds(20) };
        foreach (var (method, template) in mutations)
        {
            var path = Fill(template, context);
            foreach (var (name, authorization, adminOnlyRoutes) in attempts)
            {
                if (adminOnlyRoutes && !AdminOnly(template))
                {
                    continue;
                }

                using var request = new HttpRequestMessage(new HttpMethod(method), path)
                {
                    Content = method == "DELETE" ? null : new StringContent(Body(method, template, context).ToJsonString(), Encoding.UTF8, "application/json"),
                };
                if (authorization is not null)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", authorization);
                }

                using var response = await http.SendAsync(request);
                sent++;
                var code = (int)response.StatusCode;
                statuses[code.ToString(System.Globalization.CultureInfo.InvariantCulture)] = statuses.GetValueOrDefault(code.ToString(System.Globalization.CultureInfo.InvariantCulture)) + 1;
                if (response.IsSuccessStatusCode)
                {
                    accepted++;
                    acceptedList.Add($"{method} {path} with {name}: {code}");
                }
            }
        }

        log.WriteLine($"  operator API: {mutations.Count} mutating routes from /openapi/v1.json, {sent} requests, {accepted} accepted");
        var gateway = await GatewayAsync(fleet, context, log);
        return new JsonObject
        {
            ["mutating_routes"] = new JsonArray([.. mutations.Select(m => (JsonNode)$"{m.Method} {m.Template}")]),
            ["operator_requests_sent"] = sent,
            ["operator_requests_accepted"] = accepted,
            ["operator_statuses"] = new JsonObject(statuses.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["operator_accepted"] = acceptedList,
            ["gateway"] = gateway,
        };
    }

    /// <summary>Values that resolve to something real, so a refusal cannot come from a 404 on a made-up id.</summary>
    private static string Fill(string template, IdentityContext context) => PathParameter().Replace(template, m => m.Groups[1].Value switch
    {
        "robotId" => context.VictimRobotId,
        "id" => context.AssignmentId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "keyId" => context.VictimKeyId,
        "credentialId" => context.VictimCredentialId,
        "modelId" => context.ModelId,
        "version" => context.LiveVersion,
        "jobId" => "identity-probe-job",
        _ => "identity-probe",
    });

    /// <summary>A body the route would accept from an authorised caller, so only the credential can make it fail.</summary>
    private static JsonObject Body(string method, string template, IdentityContext context) => (method, template) switch
    {
        ("POST", "/api/assignments") => new JsonObject { ["selector"] = "tag:identity-probe", ["instruction"] = "identity probe" },
        ("POST", "/api/budget") => new JsonObject { ["selector"] = "tag:identity-probe", ["budgetMs"] = 200.0 },
        ("POST", "/api/estop" or "/api/resume") => new JsonObject { ["selector"] = "tag:identity-probe", ["deadlineMs"] = 1000.0 },
        ("POST", "/api/keys") => new JsonObject { ["name"] = "identity-probe", ["role"] = "admin" },
        ("POST", _) when template.EndsWith("/credentials", StringComparison.Ordinal) => new JsonObject { ["name"] = "identity-probe" },
        ("POST", _) when template.EndsWith("/live", StringComparison.Ordinal) => new JsonObject { ["version"] = context.LiveVersion },
        ("POST", "/api/calibrations") => new JsonObject { ["modelId"] = context.ModelId, ["dataset"] = "identity-probe" },
        ("PUT", _) when template.Contains("calibration-schedule", StringComparison.Ordinal) => new JsonObject { ["dataset"] = "identity-probe", ["everyMinutes"] = 60.0 },
        _ => [],
    };

    [GeneratedRegex(@"\{(\w+)(:[^}]*)?\}")]
    private static partial Regex PathParameter();

    private static async Task<JsonObject> GatewayAsync(ReliabilityFleet fleet, IdentityContext context, TextWriter log)
    {
        using var channel = GrpcChannel.ForAddress(fleet.Silos[0].RobotGatewayUrl);
        var client = new P.RobotGateway.RobotGatewayClient(channel);
        var robots = (await ReliabilityFleet.RobotsAsync(fleet.Any)).ToDictionary(r => r.RobotId);

        // Unauthenticated: every rpc, for a robot with a live agent, with each bad credential.
        var victim = fleet.Agents[0].RobotId;
        var badCredentials = new (string Name, string? Authorization)[]
        {
            ("no credential", null),
            ("malformed credential", "Bearer a1r_not-a-credential"),
            ("other scheme", "Basic " + fleet.Agents[0].Credential),
            ("operator admin key as robot credential", "Bearer " + ProcessHarness.ProcessCluster.AdminKey),
            ("revoked credential of the robot", "Bearer " + context.RevokedRobotCredential),
        };
        var unauthenticatedSent = 0;
        var unauthenticatedAccepted = new JsonArray();
        var codes = new SortedDictionary<string, int>();
        foreach (var (name, authorization) in badCredentials)
        {
            foreach (var (rpc, outcome) in await AllRpcsAsync(client, authorization, victim, robots[victim].Epoch))
            {
                unauthenticatedSent++;
                codes[outcome.ToString()] = codes.GetValueOrDefault(outcome.ToString()) + 1;
                if (outcome == StatusCode.OK)
                {
                    unauthenticatedAccepted.Add($"{rpc} for {victim} with {name}");
                }
            }
        }

        // Cross-robot: the intruder robot's valid credential, naming every other robot every way a robot_id can be written.
        var crossSent = 0;
        var crossAccepted = new JsonArray();
        var crossCodes = new SortedDictionary<string, int>();
        foreach (var target in fleet.Agents.Select(a => a.RobotId))
        {
            foreach (var spelled in new[] { target, target.ToUpperInvariant(), " " + target, target + " ", target + "\0", target + "/" + context.IntruderRobotId })
            {
                foreach (var (rpc, outcome) in await AllRpcsAsync(client, "Bearer " + context.IntruderCredential, spelled, robots[target].Epoch))
                {
                    crossSent++;
                    crossCodes[outcome.ToString()] = crossCodes.GetValueOrDefault(outcome.ToString()) + 1;
                    if (outcome == StatusCode.OK)
                    {
                        crossAccepted.Add($"{rpc} naming '{spelled}' with {context.IntruderRobotId}'s credential");
                    }
                }
            }
        }

        log.WriteLine($"  robot gateway: {unauthenticatedSent} calls with bad credentials ({unauthenticatedAccepted.Count} accepted), " +
                      $"{crossSent} cross-robot calls ({crossAccepted.Count} accepted)");
        return new JsonObject
        {
            ["unauthenticated_calls_sent"] = unauthenticatedSent,
            ["unauthenticated_calls_accepted"] = unauthenticatedAccepted.Count,
            ["unauthenticated_accepted"] = unauthenticatedAccepted,
            ["unauthenticated_status_codes"] = new JsonObject(codes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["cross_robot_calls_sent"] = crossSent,
            ["cross_robot_calls_accepted"] = crossAccepted.Count,
            ["cross_robot_accepted"] = crossAccepted,
            ["cross_robot_status_codes"] = new JsonObject(crossCodes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
    }

    /// <summary>Bind, Act, Heartbeat, ReportCounters and Commands (headers) for <paramref name="robotId"/>: each call's status code.</summary>
    private static async Task<List<(string Rpc, StatusCode Outcome)>> AllRpcsAsync(P.RobotGateway.RobotGatewayClient client, string? authorization, string robotId, long epoch)
    {
        var headers = new Metadata();
        if (authorization is not null)
        {
            headers.Add("authorization", authorization);
        }

        var options = new CallOptions(headers, DateTime.UtcNow.AddSeconds(10));
        var registration = new AgentRegistration("identity-probe-agent", Embodiment.Franka, "tiny-fm", 8, 8, ["front", "wrist"], 20, []);
        var results = new List<(string, StatusCode)>
        {
            ("Bind", await Outcome(async () => await client.BindAsync(registration.ToProto(robotId), options))),
            ("Act", await Outcome(async () => await client.ActAsync(new P.ActRequest { RobotId = robotId, Epoch = epoch, Observation = new P.Observation { Sequence = 1 } }, options))),
            ("Heartbeat", await Outcome(async () => await client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = robotId, Epoch = epoch }, options))),
            ("ReportCounters", await Outcome(async () => await client.ReportCountersAsync(new P.ReportCountersRequest { RobotId = robotId, Epoch = epoch, Counters = new P.AgentCounters() }, options))),
            ("Commands", await Outcome(async () =>
            {
                using var call = client.Commands(new P.CommandsRequest { RobotId = robotId, Epoch = epoch }, options);
                await call.ResponseHeadersAsync;

                // Headers arrive once the stream is registered; a refusal may still come as the status instead.
                using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await call.ResponseStream.MoveNext(cancel.Token);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
                {
                }
            })),
        };
        return results;
    }

    private static async Task<StatusCode> Outcome(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }
}

/// <summary>What the identity scenario needs set up with the admin key: keys of each role (one revoked), robots and ids to name.</summary>
internal sealed record IdentityContext(
    string ViewerKey,
    string OperatorKey,
    string RevokedOperatorKey,
    string RevokedAdminKey,
    string VictimKeyId,
    string VictimRobotId,
    string VictimCredentialId,
    long AssignmentId,
    string ModelId,
    string LiveVersion,
    string IntruderRobotId,
    string IntruderCredential,
    string RevokedRobotCredential)
{
    public static async Task<IdentityContext> CreateAsync(ReliabilityFleet fleet)
    {
        using var admin = ReliabilityFleet.Api(fleet.Any, TimeSpan.FromSeconds(20));
        async Task<(string Id, string Key)> Key(string name, string role)
        {
            var created = await ReliabilityFleet.PostAsync(admin, "/api/keys", new { name, role });
            return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
        }

        async Task<(string Id, string Key)> Credential(string robotId, string name)
        {
            var created = await ReliabilityFleet.PostAsync(admin, $"/api/robots/{robotId}/credentials", new { name });
            return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
        }

        var viewer = await Key("bench-viewer", "viewer");
        var @operator = await Key("bench-operator", "operator");
        var revokedOperator = await Key("bench-revoked-operator", "operator");
        var revokedAdmin = await Key("bench-revoked-admin", "admin");
        var victimKey = await Key("bench-victim", "viewer");
        (await admin.DeleteAsync($"/api/keys/{revokedOperator.Id}")).EnsureSuccessStatusCode();
        (await admin.DeleteAsync($"/api/keys/{revokedAdmin.Id}")).EnsureSuccessStatusCode();

        var victimRobot = fleet.Agents[0].RobotId;
        var victimCredential = await Credential(victimRobot, "bench-victim");
        var revokedRobot = await Credential(victimRobot, "bench-revoked");
        (await admin.DeleteAsync($"/api/robots/{victimRobot}/credentials/{revokedRobot.Id}")).EnsureSuccessStatusCode();
        var intruder = await Credential("intruder-01", "bench-intruder");

        var assignment = await ReliabilityFleet.PostAsync(admin, "/api/assignments", new { selector = "tag:identity-probe", instruction = "identity probe target" });
        var assignmentId = assignment.TryGetProperty("assignmentId", out var id) && id.ValueKind == JsonValueKind.Number ? id.GetInt64() : 1;
        var models = JsonDocument.Parse(await admin.GetStringAsync("/api/models")).RootElement;
        var live = models.EnumerateArray().First(m => m.GetProperty("modelId").GetString() == fleet.ModelId).GetProperty("liveVersion").GetString()!;
        return new IdentityContext(viewer.Key, @operator.Key, revokedOperator.Key, revokedAdmin.Key, victimKey.Id, victimRobot, victimCredential.Id,
            assignmentId, fleet.ModelId, live, "intruder-01", intruder.Key, revokedRobot.Key);
    }
}
