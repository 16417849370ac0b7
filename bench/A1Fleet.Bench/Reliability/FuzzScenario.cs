using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.RobotGateway;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Bench.Reliability;

/// <summary>
/// Scenario 4: malformed input through every external endpoint (operator API, robot gateway, the agents' loopback
/// listeners) while the agents keep being served and a reader keeps reading. Bounded by a request count and a time
/// limit; every request goes to 127.0.0.1. What counts is what the good traffic and the silo processes went through.
/// </summary>
internal sealed class FuzzScenario(ReliabilityFleet fleet, string operatorKey, string viewerKey, string probeRobotId, string probeCredential)
{
    private readonly Random _random = new(20261204);
    private readonly SortedDictionary<string, int> _sent = new();
    private readonly SortedDictionary<string, SortedDictionary<string, int>> _answers = new();

    public async Task<JsonObject> RunAsync(int requests, TimeSpan limit, TextWriter log)
    {
        var before = await fleet.StatusesAsync();
        using var stopReader = new CancellationTokenSource();
        var reader = GoodReaderAsync(stopReader.Token);
        var started = Stopwatch.GetTimestamp();

        using var api = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var h2 = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(15), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var channel = GrpcChannel.ForAddress(fleet.Silos[1].RobotGatewayUrl, new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        var grpc = new P.RobotGateway.RobotGatewayClient(channel);
        var probeEpoch = await BindProbeAsync(grpc);

        var operatorCases = OperatorCases();
        var i = 0;
        for (; i < requests && Stopwatch.GetElapsedTime(started) < limit; i++)
        {
            var silo = fleet.Silos[i % 2];
            if (silo.Process.HasExited)
            {
                break;
            }

            // Mostly the operator API (the widest surface), then the gateway raw and through a real client, then the agents.
            switch (i % 10)
            {
                case < 5:
                    await SendOperatorAsync(api, silo.Url, operatorCases[(i / 10 * 5 + i % 10) % operatorCases.Count]);
                    break;
                case 5 or 6:
                    await SendRawGrpcAsync(h2, silo.RobotGatewayUrl, i);
                    break;
                case 7:
                    await SendBadObservationAsync(grpc, probeEpoch, i);
                    break;
                case 8:
                    await SendAgentAsync(api, fleet.Agents[i / 10 % fleet.Agents.Count], i);
                    break;
                default:
                    await SendRawTcpAsync(i);
                    break;
            }
        }

        var window = Stopwatch.GetElapsedTime(started);
        await stopReader.CancelAsync();
        var (reads, readFailures, readErrors) = await reader;
        var after = await fleet.StatusesAsync();
        long agentFailures = 0, agentRequests = 0;
        var perAgent = new JsonObject();
        foreach (var agent in fleet.Agents)
        {
            var b = before[agent.RobotId];
            var a = after[agent.RobotId];
            var failed = a is null || b is null ? -1 : a.RequestFailures - b.RequestFailures;
            var served = a is null || b is null ? -1 : a.ChunksExecuted - b.ChunksExecuted;
            agentFailures += Math.Max(failed, 0) + (a is null ? 1 : 0);
            agentRequests += a is null || b is null ? 0 : a.Requests - b.Requests;
            perAgent[agent.RobotId] = new JsonObject { ["failed_requests"] = failed, ["chunks_executed"] = served };
        }

        log.WriteLine($"  {i} malformed requests in {window.TotalSeconds:F1} s; agents sent {agentRequests} good requests, {agentFailures} failed; " +
                      $"reader {reads} reads, {readFailures} failed");
        return new JsonObject
        {
            ["malformed_requests_sent"] = i,
            ["window_seconds"] = Math.Round(window.TotalSeconds, 1),
            ["sent_by_kind"] = ToJson(_sent),
            ["answers_by_kind"] = new JsonObject(_answers.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)ToJson(kv.Value)))),
            ["agent_good_requests"] = agentRequests,
            ["agent_failed_requests"] = agentFailures,
            ["good_reads"] = reads,
            ["good_reads_failed"] = readFailures,
            ["good_read_errors"] = new JsonArray([.. readErrors.Take(10).Select(e => (JsonNode)e)]),
            ["per_agent"] = perAgent,
            ["good_requests_failed"] = agentFailures + readFailures,
        };
    }

    private static JsonObject ToJson(SortedDictionary<string, int> counts) => new(counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));

    private void Count(string kind, string answer)
    {
        _sent[kind] = _sent.GetValueOrDefault(kind) + 1;
        if (!_answers.TryGetValue(kind, out var answers))
        {
            _answers[kind] = answers = new SortedDictionary<string, int>();
        }

        answers[answer] = answers.GetValueOrDefault(answer) + 1;
    }

    /// <summary>A viewer reading the fleet from both silos while the fuzz runs: every failed read is a good request failed.</summary>
    private async Task<(int Reads, int Failures, List<string> Errors)> GoodReaderAsync(CancellationToken stop)
    {
        var reads = 0;
        var failures = 0;
        var errors = new List<string>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", viewerKey);
        while (!stop.IsCancellationRequested)
        {
            var silo = fleet.Silos[reads % 2];
            reads++;
            try
            {
                using var response = await http.GetAsync(silo.Url + "/api/robots?selector=all", CancellationToken.None);
                if (!response.IsSuccessStatusCode)
                {
                    failures++;
                    errors.Add($"GET {silo.Url}/api/robots: {(int)response.StatusCode}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                failures++;
                errors.Add($"GET {silo.Url}/api/robots: {e.Message}");
            }

            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return (reads, failures, errors);
    }

    private sealed record OperatorCase(string Kind, string Method, string Path, string? ContentType, byte[]? Body, bool Authenticated = true);

    private static List<OperatorCase> OperatorCases()
    {
        static byte[] U(string s) => Encoding.UTF8.GetBytes(s);
        var json = "application/json";
        var cases = new List<OperatorCase>
        {
            new("bad json", "POST", "/api/assignments", json, U("{")),
            new("bad json", "POST", "/api/assignments", json, U("{\"selector\":\"all\",\"instruction\":")),
            new("bad json", "POST", "/api/budget", json, U("[1,2,3]")),
            new("bad json", "POST", "/api/estop", json, U("null")),
            new("bad json", "POST", "/api/keys", json, U("{\"name\":\"x\",\"role\":\"admin\"")),
            new("bad json", "POST", "/api/assignments", json, U("\uFEFF{\"selector\":\"all\"}}}}")),
            new("wrong types", "POST", "/api/assignments", json, U("{\"selector\":1,\"instruction\":true}")),
            new("wrong types", "POST", "/api/budget", json, U("{\"selector\":\"all\",\"budgetMs\":\"fast\"}")),
            new("wrong types", "POST", "/api/estop", json, U("{\"selector\":[\"all\"],\"deadlineMs\":{}}")),
            new("wrong types", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":1e400}")),
            new("nan/inf", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":NaN}")),
            new("nan/inf", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":\"NaN\"}")),
            new("nan/inf", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":\"-Infinity\"}")),
            new("nan/inf", "POST", "/api/estop", json, U("{\"selector\":\"tag:none\",\"deadlineMs\":\"Infinity\"}")),
            new("out of range", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":0.000001}")),
            new("out of range", "POST", "/api/budget", json, U("{\"selector\":\"tag:none\",\"budgetMs\":-5}")),
            new("out of range", "POST", "/api/estop", json, U("{\"selector\":\"tag:none\",\"deadlineMs\":-1}")),
            new("bad selector", "POST", "/api/assignments", json, U("{\"selector\":\"robot:\",\"instruction\":\"x\"}")),
            new("bad selector", "POST", "/api/assignments", json, U("{\"selector\":\"embodiment:spaceship\",\"instruction\":\"x\"}")),
            new("bad selector", "POST", "/api/assignments", json, U($"{{\"selector\":\"tag:{new string('a', 5000)}\",\"instruction\":\"x\"}}")),
            new("bad selector", "POST", "/api/estop", json, U("{\"selector\":\"robot:\\u0000\\u001b[2J\"}")),
            new("bad selector", "GET", "/api/robots?selector=" + Uri.EscapeDataString("tag:\u0001\u0002"), null, null),
            new("bad selector", "GET", "/api/robots?selector=" + new string('x', 8000), null, null),
            new("control characters", "POST", "/api/assignments", json, U("{\"selector\":\"tag:none\",\"instruction\":\"pick\\u001b[31m\\u0007 up\\r\\n\"}")),
            new("control characters", "POST", "/api/keys", json, U("{\"name\":\"\\u0000evil\",\"role\":\"viewer\"}")),
            new("long instruction", "POST", "/api/assignments", json, U($"{{\"selector\":\"tag:none\",\"instruction\":\"{new string('p', 100_000)}\"}}")),
            new("huge body", "POST", "/api/assignments", json, U($"{{\"selector\":\"tag:none\",\"instruction\":\"{new string('p', 3_000_000)}\"}}")),
            new("deep nesting", "POST", "/api/assignments", json, U(new string('[', 10_000) + new string(']', 10_000))),
            new("wrong content type", "POST", "/api/assignments", "text/plain", U("{\"selector\":\"tag:none\",\"instruction\":\"x\"}")),
            new("wrong content type", "POST", "/api/estop", "application/xml", U("<estop selector=\"all\"/>")),
            new("wrong content type", "POST", "/api/budget", "multipart/form-data; boundary=x", U("--x\r\n\r\n--x--")),
            new("no body", "POST", "/api/assignments", json, null),
            new("unknown route", "GET", "/api/does-not-exist", null, null),
            new("unknown route", "POST", "/api/robots/%00/lease/release", json, U("{}")),
            new("unknown route", "GET", "/api/../../etc/passwd", null, null),
            new("unknown route", "DELETE", "/api/assignments/not-a-number", null, null),
            new("unknown route", "DELETE", "/api/assignments/99999999999999999999999", null, null),
            new("wrong method", "PUT", "/api/estop", json, U("{\"selector\":\"tag:none\"}")),
            new("wrong method", "PATCH", "/api/robots", json, U("{}")),
            new("bad id", "GET", "/api/robots/" + Uri.EscapeDataString("\u202Efranka"), null, null),
            new("bad id", "POST", "/api/robots/" + new string('r', 2000) + "/credentials", json, U("{\"name\":\"x\"}")),
            new("bad query", "GET", "/api/audit?limit=-1", null, null),
            new("bad query", "GET", "/api/audit?since=yesterday", null, null),
            new("unauthenticated garbage", "POST", "/api/estop", json, U("{\"selector\":\"all\"}"), Authenticated: false),
        };
        return cases;
    }

    private async Task SendOperatorAsync(HttpClient http, string baseUrl, OperatorCase c)
    {
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), baseUrl + c.Path);
        if (c.Body is not null)
        {
            request.Content = new ByteArrayContent(c.Body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
        }

        if (c.Authenticated)
        {
            // An operator key, so the request gets past authentication and reaches the parsing and validation it fuzzes.
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + operatorKey);
        }

        try
        {
            using var response = await http.SendAsync(request);
            Count("operator api: " + c.Kind, $"http {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Count("operator api: " + c.Kind, "transport error");
        }
    }

    /// <summary>HTTP/2 requests to the gateway's rpc paths with broken gRPC framing or bytes that are not the message.</summary>
    private async Task SendRawGrpcAsync(HttpClient h2, string gatewayUrl, int i)
    {
        string[] rpcs = ["Bind", "Act", "Heartbeat", "ReportCounters", "Commands"];
        var rpc = rpcs[i % rpcs.Length];
        var (kind, body) = (i / 2 % 7) switch
        {
            0 => ("truncated frame", Frame(RandomBytes(64), declaredLength: 4096)),
            1 => ("garbage protobuf", Frame(RandomBytes(200))),
            2 => ("wrong message", Frame(new P.CommandsRequest { RobotId = probeRobotId, Epoch = -1 }.ToByteArray().Concat(RandomBytes(17)).ToArray())),
            3 => ("declared 2 GiB", Frame(RandomBytes(10), declaredLength: int.MaxValue)),
            4 => ("compressed flag, no encoding", Frame(RandomBytes(40), compressed: true)),
            5 => ("half a header", new byte[] { 0, 0, 0 }),
            _ => ("two frames for a unary call", [.. Frame(RandomBytes(8)), .. Frame(RandomBytes(8))]),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{gatewayUrl}/a1fleet.robot_gateway.v1.RobotGateway/{rpc}")
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (i % 3 != 0)
        {
            request.Headers.TryAddWithoutValidation("authorization", "Bearer " + probeCredential);
        }

        try
        {
            using var response = await h2.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
            var status = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.First()
                : response.Headers.TryGetValues("grpc-status", out var headerValues) ? headerValues.First() : "none";
            Count("gateway raw: " + kind, $"http {(int)response.StatusCode} grpc-status {status}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Count("gateway raw: " + kind, "transport error");
        }
    }

    private async Task<long> BindProbeAsync(P.RobotGateway.RobotGatewayClient grpc)
    {
        var registration = new AgentRegistration("fuzz-probe-agent", Embodiment.Franka, fleet.ModelId, 8, 8, ["front", "wrist"], 20, ["fuzz"]);
        var reply = await grpc.BindAsync(registration.ToProto(probeRobotId), Auth());
        return reply.Lease.Epoch;
    }

    private CallOptions Auth() => new(new Metadata { { "authorization", "Bearer " + probeCredential } }, DateTime.UtcNow.AddSeconds(15));

    /// <summary>Observations of a bound robot through the real client, with a valid credential and shapes that are wrong.</summary>
    private async Task SendBadObservationAsync(P.RobotGateway.RobotGatewayClient grpc, long epoch, int i)
    {
        var observation = new P.Observation { Sequence = i, CapturedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow) };
        var kind = (i / 10 % 8) switch
        {
            0 => "state too short",
            1 => "state NaN",
            2 => "state Inf",
            3 => "no images",
            4 => "image wrong size",
            5 => "huge state",
            6 => "image larger than the message limit",
            _ => "too many images",
        };
        switch (kind)
        {
            case "state too short":
                observation.State.Add(0.1f);
                break;
            case "state NaN":
                observation.State.AddRange(Enumerable.Repeat(float.NaN, 8));
                break;
            case "state Inf":
                observation.State.AddRange(Enumerable.Repeat(float.PositiveInfinity, 8));
                break;
            case "huge state":
                observation.State.AddRange(new float[500_000]);
                break;
            case "image larger than the message limit":
                observation.State.AddRange(new float[8]);
                observation.Images.Add(ByteString.CopyFrom(new byte[5 << 20]));
                break;
            case "too many images":
                observation.State.AddRange(new float[8]);
                for (var n = 0; n < 40; n++)
                {
                    observation.Images.Add(ByteString.CopyFrom(new byte[64 * 64 * 3]));
                }

                break;
            default:
                observation.State.AddRange(new float[8]);
                if (kind == "image wrong size")
                {
                    observation.Images.Add(ByteString.CopyFrom(new byte[7]));
                    observation.Images.Add(ByteString.CopyFrom(new byte[1 << 16]));
                }

                break;
        }

        try
        {
            var reply = await grpc.ActAsync(new P.ActRequest { RobotId = probeRobotId, Epoch = epoch, Observation = observation }, Auth());
            Count("gateway client: " + kind, "grpc OK " + reply.Status);
        }
        catch (RpcException e)
        {
            Count("gateway client: " + kind, "grpc " + e.StatusCode);
        }
    }

    /// <summary>The agents' loopback listener: wrong methods, unknown paths, oversized headers and bodies (never the stop endpoints with POST).</summary>
    private async Task SendAgentAsync(HttpClient http, BenchAgent agent, int i)
    {
        var url = $"http://127.0.0.1:{agent.MetricsPort}";
        var (kind, request) = (i / 10 % 6) switch
        {
            0 => ("wrong method", new HttpRequestMessage(HttpMethod.Get, url + "/local/estop")),
            1 => ("wrong method", new HttpRequestMessage(HttpMethod.Delete, url + "/local/status")),
            2 => ("unknown path", new HttpRequestMessage(HttpMethod.Get, url + "/local/../../" + new string('x', 3000))),
            3 => ("body on a read", new HttpRequestMessage(HttpMethod.Put, url + "/metrics") { Content = new ByteArrayContent(RandomBytes(100_000)) }),
            4 => ("huge header", new HttpRequestMessage(HttpMethod.Get, url + "/health/ready")),
            _ => ("bad query", new HttpRequestMessage(HttpMethod.Get, url + "/metrics?" + new string('%', 500))),
        };
        using (request)
        {
            if (kind == "huge header")
            {
                request.Headers.TryAddWithoutValidation("X-Fuzz", new string('h', 64_000));
            }

            try
            {
                using var response = await http.SendAsync(request);
                Count("agent: " + kind, $"http {(int)response.StatusCode}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Count("agent: " + kind, "transport error");
            }
        }
    }

    /// <summary>Bytes that are not HTTP at all (or half a request line) to every listening port: operator API, gateway, an agent.</summary>
    private async Task SendRawTcpAsync(int i)
    {
        var silo = fleet.Silos[i % 2];
        var ports = new[] { new Uri(silo.Url).Port, new Uri(silo.RobotGatewayUrl).Port, fleet.Agents[i % fleet.Agents.Count].MetricsPort };
        var port = ports[i / 10 % ports.Length];
        var (kind, payload) = (i / 30 % 4) switch
        {
            0 => ("random bytes", RandomBytes(512)),
            1 => ("half a request line", Encoding.ASCII.GetBytes("POST /api/estop HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n{")),
            2 => ("http/2 preface then garbage", [.. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), .. RandomBytes(256)]),
            _ => ("header flood", Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n" + string.Concat(Enumerable.Repeat("X-A: b\r\n", 2000)) + "\r\n")),
        };
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(payload, timeout.Token);
            var buffer = new byte[256];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            Count("raw tcp: " + kind, read > 0 ? "answered" : "closed");
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            Count("raw tcp: " + kind, "closed or timed out");
        }
    }

    private byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        _random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A gRPC length-prefixed message: compressed flag, big-endian length (as declared, not necessarily true), payload.</summary>
    private static byte[] Frame(byte[] payload, int? declaredLength = null, bool compressed = false)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), declaredLength ?? payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        return frame;
    }
}
