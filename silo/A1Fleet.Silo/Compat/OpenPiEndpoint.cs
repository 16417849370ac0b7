using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using A1Fleet.Grains;
using A1Fleet.Silo.RobotGateway;
using MessagePack;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Compat;

/// <summary>
/// openpi's policy-server protocol (WebsocketPolicyServer / WebsocketClientPolicy), served for fleet robots: an
/// unchanged openpi client drives its robot through the robot grain. The handshake needs
/// <c>Authorization: Api-Key &lt;robot credential&gt;</c> (else HTTP 401, nothing served); then one metadata frame
/// (msgpack of the robot's configured map), then strictly one binary msgpack frame in (the observation), one out
/// (<c>actions</c> (H, D) float32, <c>server_timing</c>, <c>policy_timing</c>). A failed request is answered as openpi
/// does: the error as a text frame, then close 1011. A receive is always pending, so pings are answered while a request
/// is in flight (openpi's websockets-15 client drops a peer that misses its pings for 20 s).
/// </summary>
public sealed partial class OpenPiEndpoint(
    RobotAdmission admission,
    CompatSessions sessions,
    CompatInstruments instruments,
    IOptions<CompatOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<OpenPiEndpoint> logger)
{
    internal const string Protocol = "openpi";
    private const string CloseReason = "Internal server error. Error message included in previous frame.";
    private static readonly byte[] HealthBody = "OK\n"u8.ToArray();

    public async Task HandleAsync(HttpContext context)
    {
        var o = options.Value;
        var path = context.Request.Path.Value ?? "/";
        if (HttpMethods.IsGet(context.Request.Method) && path == "/healthz" && !context.WebSockets.IsWebSocketRequest)
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.Body.WriteAsync(HealthBody, context.RequestAborted);
            return;
        }

        if (!string.Equals(path, o.OpenPiPath, StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Refuse(context, StatusCodes.Status426UpgradeRequired, "this is an openpi policy endpoint: connect with a WebSocket client (openpi_client.WebsocketClientPolicy)");
            return;
        }

        var key = ApiKey(context.Request.Headers.Authorization.ToString());
        var admitted = await admission.AdmitAsync(key, "send the header 'Authorization: Api-Key <robot credential>' (WebsocketClientPolicy(api_key=...))", context.RequestAborted);
        if (!admitted.Admitted)
        {
            instruments.OnRequest(Protocol, admitted.Refusal == AdmissionRefusal.RateLimited ? "rate_limited" : "unauthenticated");
            if (admitted.RetryAfter is { } retry)
            {
                context.Response.Headers.RetryAfter = Math.Ceiling(retry.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await Refuse(context, admitted.Refusal == AdmissionRefusal.RateLimited ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized, admitted.Message!);
            return;
        }

        var robotId = admitted.RobotId!;
        var connection = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        CompatSession session;
        try
        {
            session = await sessions.OpenAsync(robotId, CompatProtocol.OpenPi, connection, idleTimeout: null, onEnded: null, context.RequestAborted);
        }
        catch (CompatException ex)
        {
            // Refused at the handshake: the client's connect fails with this status and nothing is served.
            instruments.OnFailure(Protocol, ex.Failure);
            LogRefused(robotId, ex.Failure, ex.Message);
            await Refuse(context, ex.Failure switch
            {
                CompatFailure.LeaseHeld => StatusCodes.Status409Conflict,
                CompatFailure.NotConfigured => StatusCodes.Status412PreconditionFailed,
                _ => StatusCodes.Status503ServiceUnavailable,
            }, ex.Message);
            return;
        }

        instruments.OnSessionOpened(Protocol);
        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { DangerousEnableCompression = false, KeepAliveInterval = TimeSpan.FromSeconds(o.KeepAliveSeconds) });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            await ServeAsync(socket, session, key!, stop.Token);
        }
        finally
        {
            await session.DisposeAsync();
            instruments.OnSessionClosed(Protocol);
        }
    }

    private async Task ServeAsync(WebSocket socket, CompatSession session, string key, CancellationToken cancellationToken)
    {
        var o = options.Value;
        await socket.SendAsync(MsgpackNumpy.Metadata(session.Profile.MetadataJson), WebSocketMessageType.Binary, true, cancellationToken);

        // The reader keeps a receive pending at all times (that is when .NET answers pings), and hands frames over.
        var frames = Channel.CreateBounded<Frame>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        using var readerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = ReadFramesAsync(socket, frames.Writer, o.MaxRequestBytes, readerStop.Token);
        double? previousTotalMs = null;
        string? error = null;
        try
        {
            await foreach (var frame in frames.Reader.ReadAllAsync(cancellationToken))
            {
                var started = time.GetTimestamp();
                if (frame.Error is { } frameError)
                {
                    error = frameError;
                    instruments.OnRequest(Protocol, "invalid");
                    break;
                }

                byte[] reply;
                try
                {
                    reply = await InferAsync(frame.Data, session, key, previousTotalMs, started, cancellationToken);
                }
                catch (CompatException ex)
                {
                    instruments.OnFailure(Protocol, ex.Failure);
                    error = ex.Message;
                    break;
                }

                await socket.SendAsync(reply, WebSocketMessageType.Binary, true, cancellationToken);
                instruments.OnRequest(Protocol, "ok");
                previousTotalMs = time.GetElapsedTime(frame.ReceivedAt).TotalMilliseconds;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (WebSocketException)
        {
            // The client went away mid-reply; the session gives the lease back.
            return;
        }

        if (error is not null && socket.State == WebSocketState.Open)
        {
            LogRequestFailed(session.RobotId, session.AgentId, error);
            await TrySend(socket, Encoding.UTF8.GetBytes(error), WebSocketMessageType.Text, cancellationToken);
        }

        // The lease goes back before the client sees the close: a client that reconnects at once can bind again.
        await session.DisposeAsync();
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try
            {
                await socket.CloseOutputAsync(error is null ? WebSocketCloseStatus.NormalClosure : WebSocketCloseStatus.InternalServerError,
                    error is null ? "" : CloseReason, cancellationToken);
            }
            catch (WebSocketException)
            {
            }
        }

        // Let the reader see the client's close frame (bounded), then stop it.
        readerStop.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await reader;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<byte[]> InferAsync(ReadOnlyMemory<byte> data, CompatSession session, string key, double? previousTotalMs, long started, CancellationToken cancellationToken)
    {
        // The credential again on every request: a revocation holds from the next frame. Then the robot's rate.
        var admitted = await admission.AdmitAsync(key, "", cancellationToken);
        if (!admitted.Admitted || admitted.RobotId != session.RobotId)
        {
            throw new CompatException(admitted.Refusal == AdmissionRefusal.RateLimited ? CompatFailure.RateLimited : CompatFailure.Unauthenticated,
                admitted.Message ?? "the robot credential now speaks for another robot");
        }

        Dictionary<string, object?> observation;
        try
        {
            observation = MsgpackNumpy.DecodeMap(data, new MsgpackLimits(MaxArrayBytes: options.Value.MaxRequestBytes));
        }
        catch (MsgpackFrameException ex)
        {
            throw new CompatException(CompatFailure.Invalid, ex.Message);
        }

        var (state, images, prompt) = CompatObservations.FromOpenPi(observation, session.Profile, session.Model, options.Value.MaxImageSide);
        var chunk = await session.ActAsync(state, images, prompt, session.Columns, "state", cancellationToken);
        instruments.OnChunk(Protocol, chunk);
        var inferMs = time.GetElapsedTime(started).TotalMilliseconds;
        return Reply(chunk, inferMs, previousTotalMs);
    }

    /// <summary>openpi's action dict: actions (H, D) float32, server_timing (prev_total_ms from the 2nd request), policy_timing.</summary>
    internal static byte[] Reply(CompatChunk chunk, double inferMs, double? previousTotalMs)
    {
        var buffer = new ArrayBufferWriter<byte>(chunk.Actions.Length * 4 + 512);
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(3);
        writer.Write("actions");
        MsgpackNumpy.WriteFloat32Matrix(ref writer, chunk.Actions, chunk.Chunk, chunk.ActionDim);
        writer.Write("server_timing");
        writer.WriteMapHeader(previousTotalMs is null ? 1 : 2);
        writer.Write("infer_ms");
        writer.Write(inferMs);
        if (previousTotalMs is { } previous)
        {
            writer.Write("prev_total_ms");
            writer.Write(previous);
        }

        writer.Write("policy_timing");
        var stats = chunk.Stats;
        writer.WriteMapHeader(stats is null ? 1 : 10);
        writer.Write("infer_ms");
        writer.Write(chunk.FleetMs);
        if (stats is not null)
        {
            writer.Write("queue_ms");
            writer.Write(stats.QueueMs);
            writer.Write("engine_ms");
            writer.Write(stats.EngineMs);
            writer.Write("total_ms");
            writer.Write(stats.TotalMs);
            writer.Write("exit_layer");
            writer.Write(stats.ExitLayer);
            writer.Write("layers_run");
            writer.Write(stats.LayersRun);
            writer.Write("layers");
            writer.Write(stats.Layers);
            writer.Write("denoising_steps");
            writer.Write(stats.DenoisingSteps);
            writer.Write("batch_size");
            writer.Write(stats.BatchSize);
            writer.Write("budget_missed");
            writer.Write(stats.BudgetMissed);
        }

        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static async Task TrySend(WebSocket socket, byte[] data, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        try
        {
            await socket.SendAsync(data, type, true, cancellationToken);
        }
        catch (WebSocketException)
        {
        }
    }

    private readonly record struct Frame(ReadOnlyMemory<byte> Data, long ReceivedAt, string? Error);

    private async Task ReadFramesAsync(WebSocket socket, ChannelWriter<Frame> frames, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= maxBytes)
                        {
                            await frames.WriteAsync(new Frame(default, time.GetTimestamp(),
                                $"frame: larger than {maxBytes} bytes (A1Fleet:Compat:MaxRequestBytes); send smaller images (openpi's clients resize to 224x224)"), cancellationToken);
                            return;
                        }

                        Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, maxBytes));
                    }

                    result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                if (result.MessageType == WebSocketMessageType.Text)
                {
                    await frames.WriteAsync(new Frame(default, time.GetTimestamp(), "frame: a text frame; openpi sends the observation as one binary msgpack frame"), cancellationToken);
                    return;
                }

                // A copy: the buffer is reused for the next frame while this one may still be decoded.
                await frames.WriteAsync(new Frame(buffer.AsSpan(0, length).ToArray(), time.GetTimestamp(), null), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            frames.TryComplete();
        }
    }

    /// <summary>The key of "Api-Key KEY" (openpi's client) or "Bearer KEY".</summary>
    internal static string? ApiKey(string authorization)
    {
        foreach (var scheme in (ReadOnlySpan<string>)["Api-Key ", "Bearer "])
        {
            if (authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                var key = authorization[scheme.Length..].Trim();
                return key.Length > 0 ? key : null;
            }
        }

        return null;
    }

    private static async Task Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }

    [LoggerMessage(EventId = 830, Level = LogLevel.Information, Message = "openpi: connection for robot {RobotId} refused ({Failure}): {Message}")]
    private partial void LogRefused(string robotId, CompatFailure failure, string message);

    [LoggerMessage(EventId = 831, Level = LogLevel.Information, Message = "openpi: {AgentId} of robot {RobotId} closed with an error: {Message}")]
    private partial void LogRequestFailed(string robotId, string agentId, string message);
}
