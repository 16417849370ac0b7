using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.Images;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;
using A1Fleet.RobotGateway;
using A1Fleet.Silo.Compat;
using A1Fleet.Silo.Hosting;
using Grpc.Net.Client;
using MessagePack;
using Microsoft.AspNetCore.Builder;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Bench;

/// <summary>
/// What the compatible protocols cost (docs/compatible-protocols.md), on the real silo host in this process (HTTP/1.1
/// endpoints, the gRPC gateway, robot credentials, profiles through the operator API), tiny-fm:
/// <c>openpi_overhead_ms_p50</c> and <c>a1_http_overhead_ms_p50</c> (1 robot: client round trip minus engine time),
/// and <c>ratio_openpi_vs_native_throughput</c> (32 openpi clients, closed loop, against the same 32 robots driven
/// through the native gRPC gateway). The clients are C# (System.Net.WebSockets with the silo's msgpack_numpy codec,
/// HttpClient, Grpc.Net.Client); the endpoints' tests use independent Python clients.
/// </summary>
internal static partial class CompatBenchmark
{
    private const string AdminKey = "a1k_00000000000000be_0000000000000000000000000000000000000000000000000000000000000bec";
    private const string Instruction = "pick up the red block";

    public static async Task MeasureAsync(JsonObject json, string modelDirectory, TimeSpan phase)
    {
        using var engine = A1Engine.Load(modelDirectory, new EngineOptions { MaxBatchSize = 1 });
        var samples = ReferencePackages.HeldOut(engine.Package);
        var ports = Enumerable.Range(0, 6).Select(_ => A1Fleet.ProcessHarness.ProcessCluster.FreePort()).ToArray();
        var url = $"http://127.0.0.1:{ports[0]}";
        var builder = WebApplication.CreateBuilder([
            "--urls", url,
            "--A1Fleet:Silo:SiloPort", ports[1].ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Silo:GatewayPort", ports[2].ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Silo:ClusterId", "compat-bench",
            "--A1Fleet:RobotGateway:Port", ports[3].ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:RobotGateway:RequestsPerSecond", "100000",
            "--A1Fleet:RobotGateway:RequestBurst", "1000000",
            "--A1Fleet:Compat:OpenPiPort", ports[4].ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Compat:A1HttpPort", ports[5].ToString(CultureInfo.InvariantCulture),
            "--A1Fleet:Inference:ModelPackages:0", modelDirectory,
            "--A1Fleet:Inference:Engine:MaxBatchSize", "64",
            "--A1Fleet:Inference:Batching:MaxBatchSize", "64",
            "--A1Fleet:Robots:DefaultLatencyBudget", "00:00:00.200",
            "--A1Fleet:Security:BootstrapAdminKey", AdminKey,
            "--A1Fleet:Api:PermitsPerSecond", "1000",
            // The setup issues a credential and a profile for each of 33 robots at once: past the default burst of 40.
            "--A1Fleet:Api:Burst", "1000",
            "--Logging:LogLevel:Default", "Critical",
        ]);
        builder.AddA1FleetSilo();
        await using var app = builder.Build();
        app.MapA1FleetEndpoints();
        await app.StartAsync();
        try
        {
            using var admin = new HttpClient { BaseAddress = new Uri(url) };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            await WaitReadyAsync(admin);
            var modelId = engine.Manifest.ModelId;
            var robots = new List<(string Id, string Key)>();
            for (var i = 0; i < 33; i++)
            {
                var id = $"compat-bench-{i}";
                var created = await (await admin.PostAsJsonAsync($"/api/robots/{id}/credentials", new { name = "bench" })).Content.ReadFromJsonAsync<JsonObject>();
                var profile = await admin.PutAsJsonAsync($"/api/robots/{id}/compat", new { preset = i == 32 ? "a1-libero" : "openpi-libero", modelId });
                profile.EnsureSuccessStatusCode();
                robots.Add((id, (string)created!["key"]!));
            }

            var openPiUrl = new Uri($"ws://127.0.0.1:{ports[4]}/");
            var single = await DriveOpenPiAsync(openPiUrl, robots.Take(1).ToList(), samples, phase);
            json["openpi_overhead_ms_p50"] = Math.Round(Stats.Median(single.Overheads), 3);
            var a1 = await DriveA1Async($"http://127.0.0.1:{ports[5]}", robots[32], samples, phase);
            json["a1_http_overhead_ms_p50"] = Math.Round(Stats.Median(a1.Overheads), 3);

            var fleet = robots.Take(32).ToList();
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{ports[3]}");
            var native = await DriveNativeAsync(new P.RobotGateway.RobotGatewayClient(channel), admin, fleet, modelId, samples, phase);
            foreach (var (id, _) in fleet)
            {
                (await admin.PostAsJsonAsync($"/api/robots/{id}/lease/release", new { })).EnsureSuccessStatusCode();
            }

            var openPi = await DriveOpenPiAsync(openPiUrl, fleet, samples, phase);
            json["openpi_requests_per_second_32"] = Math.Round(openPi.RequestsPerSecond, 2);
            json["native_gateway_requests_per_second_32"] = Math.Round(native.RequestsPerSecond, 2);
            json["ratio_openpi_vs_native_throughput"] = Math.Round(openPi.RequestsPerSecond / native.RequestsPerSecond, 3);
            json["openpi_refused_32"] = openPi.Refused;
            json["native_gateway_refused_32"] = native.Refused;
            foreach (var key in new[] { "openpi_overhead_ms_p50", "a1_http_overhead_ms_p50", "openpi_requests_per_second_32", "native_gateway_requests_per_second_32", "ratio_openpi_vs_native_throughput",
                         "openpi_refused_32", "native_gateway_refused_32" })
            {
                Console.WriteLine($"{key} = {json[key]}");
            }
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <param name="Refused">Requests answered "not now" (deadline admission), left out of the rate and the overheads.</param>
    private sealed record Drive(double RequestsPerSecond, List<double> Overheads, int Refused = 0);

    private static async Task WaitReadyAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while ((await http.GetAsync("/health/ready")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the compat bench silo did not become ready within 120 s");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Closed loop: each client sends its next request as soon as the previous answer arrived.</summary>
    private static async Task<Drive> ClosedLoopAsync(int clients, TimeSpan phase, Func<int, long, Task<double?>> request)
    {
        var overheads = new List<double>();
        var gate = new Lock();
        // Warm-up round: first-call costs (activations, binds, connections) stay out of the figures.
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => request(i, 0)));
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(phase.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            for (var seq = 1L; Stopwatch.GetTimestamp() < end; seq++)
            {
                if (await request(i, seq) is { } overhead)
                {
                    lock (gate)
                    {
                        overheads.Add(overhead);
                    }
                }
            }
        })));
        return new Drive(overheads.Count / Stopwatch.GetElapsedTime(started).TotalSeconds, overheads);
    }

    private static async Task<Drive> DriveOpenPiAsync(Uri url, List<(string Id, string Key)> robots, List<ObservationSample> samples, TimeSpan phase)
    {
        var sockets = new ClientWebSocket[robots.Count];
        for (var i = 0; i < robots.Count; i++)
        {
            sockets[i] = await ConnectOpenPiAsync(url, robots[i].Key);
        }

        var refused = 0;
        try
        {
            var drive = await ClosedLoopAsync(robots.Count, phase, async (i, seq) =>
            {
                var sample = samples[(int)((i * 7 + seq) % samples.Count)];
                var t0 = Stopwatch.GetTimestamp();
                await sockets[i].SendAsync(OpenPiObservation(sample), WebSocketMessageType.Binary, true, CancellationToken.None);
                var reply = await ReceiveAsync(sockets[i]);
                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (reply.Refusal is { } refusal)
                {
                    // As an openpi client does after a failed request (docs/compatible-protocols.md): the server
                    // closes, the client connects again and sends its next observation, here after the hint.
                    Interlocked.Increment(ref refused);
                    sockets[i].Dispose();
                    await Task.Delay(refusal.RetryAfter);
                    sockets[i] = await ConnectOpenPiAsync(url, robots[i].Key);
                    return null;
                }

                return EngineMs(reply.Frame) is { } engineMs ? ms - engineMs : null;
            });
            return drive with { Refused = refused };
        }
        finally
        {
            foreach (var socket in sockets)
            {
                if (socket.State == WebSocketState.Open)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                }

                socket.Dispose();
            }
        }
    }

    private static async Task<ClientWebSocket> ConnectOpenPiAsync(Uri url, string key)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Api-Key {key}");
        await socket.ConnectAsync(url, CancellationToken.None);
        // The server's metadata frame comes first on every connection.
        var metadata = await ReceiveAsync(socket);
        if (metadata.Refusal is not null)
        {
            throw new InvalidOperationException($"openpi endpoint answered its metadata with a refusal: {metadata.Refusal.Text}");
        }

        return socket;
    }

    private static byte[] OpenPiObservation(ObservationSample sample)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(3);
        writer.Write("observation/image");
        var side = (int)Math.Sqrt(sample.Images[0].Length / 3);
        MsgpackNumpy.WriteArray(ref writer, "|u1", [side, side, 3], sample.Images[0]);
        writer.Write("observation/state");
        var state = new byte[sample.State.Length * 4];
        Buffer.BlockCopy(sample.State, 0, state, 0, state.Length);
        MsgpackNumpy.WriteArray(ref writer, "<f4", [sample.State.Length], state);
        writer.Write("prompt");
        writer.Write(Instruction);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The server's "not now" (a text frame naming the deadline, then close 1011) and its retry hint.</summary>
    internal sealed record OpenPiRefusal(string Text, TimeSpan RetryAfter);

    private sealed record OpenPiReply(byte[] Frame, OpenPiRefusal? Refusal);

    /// <summary>The refusal in an openpi text frame (docs/compatible-protocols.md), or null for any other failure.</summary>
    internal static OpenPiRefusal? ParseRefusal(string text) => NotNowPattern().Match(text) is { Success: true } hint
        ? new OpenPiRefusal(text, TimeSpan.FromMilliseconds(int.Parse(hint.Groups["ms"].Value, CultureInfo.InvariantCulture)))
        : null;

    private static async Task<OpenPiReply> ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
            length += result.Count;
            if (result.MessageType != WebSocketMessageType.Binary)
            {
                var text = System.Text.Encoding.UTF8.GetString(buffer, 0, length);
                // Only a deadline refusal is part of the load; any other failure is the bench's or the server's fault.
                return ParseRefusal(text) is { } refusal
                    ? new OpenPiReply([], refusal)
                    : throw new InvalidOperationException($"openpi endpoint answered a {result.MessageType} frame: {text}");
            }

            if (result.EndOfMessage)
            {
                return new OpenPiReply(buffer[..length], null);
            }

            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"not now, .*; ask again after (?<ms>\d+) ms")]
    private static partial System.Text.RegularExpressions.Regex NotNowPattern();

    private static double? EngineMs(byte[] reply)
    {
        var map = MsgpackNumpy.DecodeMap(reply);
        return map.GetValueOrDefault("policy_timing") is Dictionary<string, object?> timing && timing.GetValueOrDefault("engine_ms") is double engineMs ? engineMs : null;
    }

    private static async Task<Drive> DriveA1Async(string url, (string Id, string Key) robot, List<ObservationSample> samples, TimeSpan phase)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{robot.Id}:{robot.Key}")));
        var bodies = samples.Select(s =>
        {
            var side = (int)Math.Sqrt(s.Images[0].Length / 3);
            return JsonSerializer.Serialize(new
            {
                instruction = Instruction,
                images = new[] { Convert.ToBase64String(ImageCodec.EncodePng(s.Images[0], side, side)) },
                proprio_data = new[] { s.State },
            });
        }).ToList();
        return await ClosedLoopAsync(1, phase, async (_, seq) =>
        {
            var t0 = Stopwatch.GetTimestamp();
            using var response = await http.PostAsync("/inference", new StringContent(bodies[(int)(seq % bodies.Count)], System.Text.Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadFromJsonAsync<JsonObject>();
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter?.Delta is { } retryAfter)
            {
                // Not now (deadline admission): ask again after the hint, as the openpi and native clients do.
                await Task.Delay(retryAfter);
                return null;
            }

            return response.IsSuccessStatusCode ? ms - (double)body!["model_info"]!["inference_stats"]!["engine_ms"]! : throw new InvalidOperationException($"A1 endpoint answered {(int)response.StatusCode}: {body}");
        });
    }

    private static async Task<Drive> DriveNativeAsync(P.RobotGateway.RobotGatewayClient client, HttpClient admin, List<(string Id, string Key)> robots, string modelId,
        List<ObservationSample> samples, TimeSpan phase)
    {
        var leases = new List<(Grpc.Core.Metadata Headers, long Epoch)>();
        foreach (var (id, key) in robots)
        {
            var headers = RobotGatewayMetadata.BearerHeaders(key);
            var spec = samples[0];
            var lease = (await client.BindAsync(new AgentRegistration($"bench-{id}", Embodiment.Franka, modelId, spec.State.Length, 0, ["front"], 20, []).ToProto(""), headers)).Lease;
            (await admin.PostAsJsonAsync("/api/assignments", new { selector = $"robot:{id}", instruction = Instruction })).EnsureSuccessStatusCode();
            leases.Add((headers, lease.Epoch));
        }

        var refused = 0;
        var drive = await ClosedLoopAsync(robots.Count, phase, async (i, seq) =>
        {
            var sample = samples[(int)((i * 7 + seq) % samples.Count)];
            var t0 = Stopwatch.GetTimestamp();
            var reply = await client.ActAsync(new P.ActRequest { Epoch = leases[i].Epoch, Observation = new Observation(seq, sample.State, [.. sample.Images], DateTimeOffset.UtcNow).ToProto() }, leases[i].Headers);
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (reply.Status == P.ChunkStatus.Refused)
            {
                // The same courtesy as the openpi clients: ask again after the hint.
                Interlocked.Increment(ref refused);
                await Task.Delay(TimeSpan.FromMilliseconds(reply.RetryAfterMs));
                return null;
            }

            return reply.Stats is { } stats && reply.Status == P.ChunkStatus.Ok ? ms - stats.EngineMs : null;
        });
        return drive with { Refused = refused };
    }
}
