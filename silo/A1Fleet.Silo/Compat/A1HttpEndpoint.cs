using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.Silo.RobotGateway;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Compat;

/// <summary>
/// The API of A1's reference server (deploy/api_server.py) for fleet robots, so A1's clients work by pointing
/// <c>--url</c> at it: <c>GET /health</c>, <c>GET /model_info</c>, <c>POST /inference</c>, with A1's field names,
/// 422 for validation errors (FastAPI's shape) and 503 "Model not loaded" while the robot's model is served by no GPU
/// silo. A1's clients send no credentials, so the robot credential rides in the URL
/// (<c>http://ROBOT:a1r_...@host:port</c>): Python's requests sends it as HTTP Basic; the password is the credential.
/// Every request is authenticated (401 otherwise, nothing served) and rate limited like the robot's other requests.
/// <para>A1's protocol has no connection: a robot's session (its lease, agent id "a1-http:&lt;session&gt;") lives while
/// requests keep coming, and is given back after <see cref="CompatOptions.A1SessionIdleSeconds"/> without one.</para>
/// </summary>
public sealed partial class A1HttpEndpoint(
    RobotAdmission admission,
    CompatSessions sessions,
    CompatInstruments instruments,
    IGrainFactory grains,
    IOptions<CompatOptions> options,
    IOptions<A1Fleet.Silo.Security.ApiLimitsOptions> limits,
    TimeProvider time,
    ILogger<A1HttpEndpoint> logger) : IAsyncDisposable
{
    internal const string Protocol = "a1-http";
    private const string Device = "a1fleet";
    private const string ActionHead = "flow_matching";

    /// <summary>A1Fleet's own addition: a robot reads and sets its latency budget within the range its operator allows.</summary>
    public const string BudgetPath = "/a1fleet/budget";
    private readonly ConcurrentDictionary<string, CompatSession> _sessions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _opening = new(1, 1);

    public async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var method = context.Request.Method;
        var route = (method, path) switch
        {
            ("GET", "/" or "/health" or "/model_info" or BudgetPath) or ("POST", "/inference" or BudgetPath) => path,
            _ => null,
        };
        if (route is null)
        {
            var known = path is "/" or "/health" or "/model_info" or "/inference" or BudgetPath;
            await Detail(context, known ? StatusCodes.Status405MethodNotAllowed : StatusCodes.Status404NotFound, known ? "Method Not Allowed" : "Not Found");
            return;
        }

        var admitted = await admission.AdmitAsync(Credential(context.Request.Headers.Authorization.ToString()),
            "put it in the URL as http://ROBOT:<robot credential>@host:port (sent as HTTP Basic), or send 'Authorization: Bearer <robot credential>'", context.RequestAborted);
        if (!admitted.Admitted)
        {
            instruments.OnRequest(Protocol, admitted.Refusal == AdmissionRefusal.RateLimited ? "rate_limited" : "unauthenticated");
            if (admitted.RetryAfter is { } retry)
            {
                context.Response.Headers.RetryAfter = Math.Ceiling(retry.TotalSeconds).ToString(CultureInfo.InvariantCulture);
                await Detail(context, StatusCodes.Status429TooManyRequests, admitted.Message!);
            }
            else
            {
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"A1Fleet robot\", charset=\"UTF-8\"";
                await Detail(context, StatusCodes.Status401Unauthorized, admitted.Message!);
            }

            return;
        }

        var robotId = admitted.RobotId!;
        switch (route)
        {
            case "/":
                await Json(context, StatusCodes.Status200OK, new JsonObject
                {
                    ["message"] = "VLA Inference API Server",
                    ["version"] = "1.0.0",
                    ["endpoints"] = new JsonObject { ["health"] = "/health", ["inference"] = "/inference", ["model_info"] = "/model_info" },
                    ["docs"] = "/docs",
                });
                break;
            case "/health":
                await Json(context, StatusCodes.Status200OK, new JsonObject
                {
                    ["status"] = "healthy",
                    ["model_loaded"] = await ModelAsync(robotId) is not null,
                    ["device"] = Device,
                    ["timestamp"] = Timestamp(),
                });
                break;
            case "/model_info":
                if (await ModelAsync(robotId) is not { } served)
                {
                    await Detail(context, StatusCodes.Status503ServiceUnavailable, "Model not loaded");
                    return;
                }

                await Json(context, StatusCodes.Status200OK, new JsonObject
                {
                    ["model_loaded"] = true,
                    ["device"] = Device,
                    ["config"] = new JsonObject { ["action_head"] = ActionHead, ["use_proprio"] = true, ["vision_backbone"] = "unknown" },
                    ["model_id"] = served.Model.ModelId,
                    ["robot_id"] = robotId,
                    ["camera_order"] = new JsonArray([.. served.Profile.CameraOrder.Select(c => (JsonNode?)c)]),
                });
                break;
            case BudgetPath:
                await BudgetAsync(context, robotId);
                break;
            default:
                await InferAsync(context, robotId);
                break;
        }
    }

    /// <summary>
    /// GET: the robot's budget and the range it may set; POST {"latency_ms": x}: sets it, when the robot's profile allows a
    /// range (robotBudgetMinMs..robotBudgetMaxMs, set by an operator) and x also meets the fleet's budget floor
    /// (<see cref="Api.BudgetFloor"/>: the configured minimum and the model's measured first exit).
    /// </summary>
    private async Task BudgetAsync(HttpContext context, string robotId)
    {
        var robot = grains.GetGrain<IRobotGrain>(robotId);
        var profile = await grains.GetGrain<ICompatProfileGrain>(robotId).Get();
        JsonObject Answer(double budget) => new()
        {
            ["robot_id"] = robotId,
            ["latency_budget_ms"] = budget,
            ["min_ms"] = profile?.RobotBudgetMinMs,
            ["max_ms"] = profile?.RobotBudgetMaxMs,
        };

        if (HttpMethods.IsGet(context.Request.Method))
        {
            await Json(context, StatusCodes.Status200OK, Answer((await robot.GetStatus()).LatencyBudgetMs));
            return;
        }

        if (profile is not { RobotMaySetBudget: true })
        {
            await Detail(context, StatusCodes.Status403Forbidden,
                $"robot '{robotId}' may not set its own latency budget: an operator allows a range with 'a1ctl compat set {robotId} --robot-budget MIN..MAX'");
            return;
        }

        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            await Validation(context, [Error("json_invalid", ["body"], "JSON decode error", null)]);
            return;
        }

        if (body is not JsonObject obj || obj["latency_ms"] is not JsonValue value || value.GetValueKind() != JsonValueKind.Number)
        {
            await Validation(context, [Error("float_type", ["body", "latency_ms"], "Input should be a valid number", null)]);
            return;
        }

        var budget = value.GetValue<double>();
        var problem = budget < profile.RobotBudgetMinMs || budget > profile.RobotBudgetMaxMs
            ? $"latency_ms {budget.ToString(CultureInfo.InvariantCulture)} is outside the range robot '{robotId}' may set: [{profile.RobotBudgetMinMs!.Value.ToString(CultureInfo.InvariantCulture)}, {profile.RobotBudgetMaxMs!.Value.ToString(CultureInfo.InvariantCulture)}] ms"
            : await Api.BudgetFloor.ProblemAsync(grains, [profile.ModelId], budget, limits.Value.MinLatencyBudgetMs, "latency_ms");
        if (problem is not null)
        {
            await Validation(context, [Error("value_error", ["body", "latency_ms"], problem, null)]);
            return;
        }

        await robot.SetLatencyBudget(budget);
        LogBudgetSet(robotId, budget);
        await Json(context, StatusCodes.Status200OK, Answer(budget));
    }

    private async Task<(CompatProfile Profile, ModelSpec Model)?> ModelAsync(string robotId)
    {
        try
        {
            return await sessions.ProfileAsync(robotId, CompatProtocol.A1Http);
        }
        catch (CompatException)
        {
            return null;
        }
    }

    private async Task InferAsync(HttpContext context, string robotId)
    {
        var started = time.GetTimestamp();
        var o = options.Value;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = o.MaxRequestBytes;
        }

        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException ex)
        {
            await Validation(context, [Error("json_invalid", ["body", ex.BytePositionInLine ?? 0], "JSON decode error", null)]);
            return;
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await Detail(context, StatusCodes.Status413PayloadTooLarge, $"the request body is larger than {o.MaxRequestBytes} bytes (A1Fleet:Compat:MaxRequestBytes)");
            return;
        }

        var request = Parse(body, out var errors);
        if (request is null)
        {
            instruments.OnRequest(Protocol, "invalid");
            await Validation(context, errors);
            return;
        }

        try
        {
            var session = await SessionAsync(robotId, context.RequestAborted);
            var (state, columns, files) = Prepare(request, session);
            var images = CompatObservations.FromA1Images(files, session.Profile, session.Model, o.MaxImageSide);
            var chunk = await session.ActAsync(state, images, request.Instruction, columns, "proprio_data[0]", context.RequestAborted);
            instruments.OnRequest(Protocol, "ok");
            instruments.OnChunk(Protocol, chunk);
            await Json(context, StatusCodes.Status200OK, Response(request, chunk, session, time.GetElapsedTime(started).TotalMilliseconds));
        }
        catch (CompatException ex)
        {
            instruments.OnFailure(Protocol, ex.Failure);
            if (ex.Failure == CompatFailure.LeaseLost)
            {
                Forget(robotId);
            }

            LogRequestFailed(robotId, ex.Failure, ex.Message);
            if (ex.Failure == CompatFailure.Invalid)
            {
                var colon = ex.Message.IndexOf(": ", StringComparison.Ordinal);
                var field = colon > 0 ? ex.Message[..colon] : "body";
                await Validation(context, [Error("value_error", ["body", .. Location(field)], ex.Message, null)]);
                return;
            }

            if (ex.RetryAfter is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            await Detail(context, ex.Failure switch
            {
                CompatFailure.LeaseHeld or CompatFailure.LeaseLost => StatusCodes.Status409Conflict,
                CompatFailure.Failed => StatusCodes.Status500InternalServerError,
                _ => StatusCodes.Status503ServiceUnavailable,
            }, ex.Failure switch
            {
                CompatFailure.ModelNotServed => "Model not loaded",
                CompatFailure.Failed => $"Inference failed: {ex.Message}",
                _ => ex.Message,
            });
        }
    }

    private sealed record A1Request(string Instruction, List<string> Images, List<List<double>> Proprio);

    /// <summary>A1's pydantic model, strictly: instruction str (required), images list of str, proprio_data list of float lists.</summary>
    private static A1Request? Parse(JsonNode? body, out List<JsonObject> errors)
    {
        errors = [];
        if (body is not JsonObject obj)
        {
            errors.Add(Error("model_attributes_type", ["body"], "Input should be a valid dictionary or object to extract fields from", null));
            return null;
        }

        string? instruction = null;
        switch (obj["instruction"])
        {
            case null when !obj.ContainsKey("instruction"):
                errors.Add(Error("missing", ["body", "instruction"], "Field required", null));
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                instruction = value.GetValue<string>();
                break;
            default:
                errors.Add(Error("string_type", ["body", "instruction"], "Input should be a valid string", null));
                break;
        }

        var images = new List<string>();
        if (obj["images"] is JsonArray imageArray)
        {
            for (var i = 0; i < imageArray.Count; i++)
            {
                if (imageArray[i] is JsonValue v && v.GetValueKind() == JsonValueKind.String)
                {
                    images.Add(v.GetValue<string>());
                }
                else
                {
                    errors.Add(Error("string_type", ["body", "images", i], "Input should be a valid string", null));
                }
            }
        }
        else if (obj["images"] is not null)
        {
            errors.Add(Error("list_type", ["body", "images"], "Input should be a valid list", null));
        }

        var proprio = new List<List<double>>();
        if (obj["proprio_data"] is JsonArray rows)
        {
            for (var r = 0; r < rows.Count; r++)
            {
                if (rows[r] is not JsonArray row)
                {
                    errors.Add(Error("list_type", ["body", "proprio_data", r], "Input should be a valid list", null));
                    continue;
                }

                var values = new List<double>(row.Count);
                for (var c = 0; c < row.Count; c++)
                {
                    if (row[c] is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
                    {
                        values.Add(v.GetValue<double>());
                    }
                    else
                    {
                        errors.Add(Error("float_type", ["body", "proprio_data", r, c], "Input should be a valid number", null));
                    }
                }

                proprio.Add(values);
            }
        }
        else if (obj["proprio_data"] is not null)
        {
            errors.Add(Error("list_type", ["body", "proprio_data"], "Input should be a valid list", null));
        }

        return errors.Count == 0 ? new A1Request(instruction!, images, proprio) : null;
    }

    /// <summary>
    /// The state and the action columns, as A1's server does: one proprio row of D values, zero-padded to the model's
    /// state; the answer has D columns. And the image files from base64. What A1 would crash on (HTTP 500) is a 422 here,
    /// and so is a row wider than the joints the session can limit (<see cref="CompatSession.Columns"/>).
    /// </summary>
    private static (float[] State, int Columns, List<byte[]> Files) Prepare(A1Request request, CompatSession session)
    {
        var model = session.Model;
        if (request.Proprio.Count != 1)
        {
            throw new CompatException(CompatFailure.Invalid, $"proprio_data: has {request.Proprio.Count} row(s); send exactly one row of the robot's state ([[...floats...]])");
        }

        var row = request.Proprio[0];
        var widest = session.Columns;
        if (row.Count < 1 || row.Count > widest)
        {
            throw new CompatException(CompatFailure.Invalid,
                $"proprio_data[0]: has {row.Count} value(s); robot '{session.RobotId}' takes 1..{widest}: the joint positions of its {session.Profile.Embodiment.ToString().ToLowerInvariant()} "
                + $"that model '{model.ModelId}' drives (state {model.StateDim}, actions {model.ActionDim}), each action limited to its joint");
        }

        var state = new float[model.StateDim];
        for (var i = 0; i < row.Count; i++)
        {
            state[i] = (float)row[i];
        }

        if (request.Images.Count == 0)
        {
            throw new CompatException(CompatFailure.Invalid, "images: is empty; send one base64 PNG or JPEG per camera, in the robot's camera order");
        }

        var files = new List<byte[]>(request.Images.Count);
        for (var i = 0; i < request.Images.Count; i++)
        {
            var text = request.Images[i];
            var comma = text.StartsWith("data:", StringComparison.Ordinal) ? text.IndexOf(',', StringComparison.Ordinal) : -1;
            try
            {
                files.Add(Convert.FromBase64String(comma >= 0 ? text[(comma + 1)..] : text));
            }
            catch (FormatException)
            {
                throw new CompatException(CompatFailure.Invalid, $"images[{i}]: is not base64 (standard alphabet, padded)");
            }
        }

        return (state, row.Count, files);
    }

    private JsonObject Response(A1Request request, CompatChunk chunk, CompatSession session, double processingMs)
    {
        var rows = new JsonArray();
        for (var r = 0; r < chunk.Chunk; r++)
        {
            var row = new JsonArray();
            for (var c = 0; c < chunk.ActionDim; c++)
            {
                row.Add((double)chunk.Actions[(r * chunk.ActionDim) + c]);
            }

            rows.Add(row);
        }

        var camera = session.Model.Cameras[0];
        var info = new JsonObject
        {
            ["device"] = Device,
            ["input_shapes"] = new JsonObject { ["images"] = new JsonArray(camera.Height, camera.Width, 3), ["seq_len"] = 0 },
            ["model_config"] = new JsonObject { ["action_head"] = ActionHead, ["use_proprio"] = true },
            ["model_id"] = session.Model.ModelId,
            ["robot_id"] = session.RobotId,
        };
        if (chunk.Stats is { } stats)
        {
            info["inference_stats"] = new JsonObject
            {
                ["exit_layer"] = stats.ExitLayer,
                ["layers_run"] = stats.LayersRun,
                ["layers"] = stats.Layers,
                ["denoising_steps"] = stats.DenoisingSteps,
                ["queue_ms"] = stats.QueueMs,
                ["engine_ms"] = stats.EngineMs,
                ["total_ms"] = stats.TotalMs,
                ["batch_size"] = stats.BatchSize,
                ["budget_missed"] = stats.BudgetMissed,
            };
        }

        return new JsonObject
        {
            ["predicted_actions"] = rows,
            ["instruction"] = request.Instruction,
            ["action_head_type"] = ActionHead,
            ["processing_time_ms"] = processingMs,
            ["model_info"] = info,
            ["timestamp"] = Timestamp(),
        };
    }

    private async Task<CompatSession> SessionAsync(string robotId, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue(robotId, out var existing) && !existing.Ended)
        {
            return existing;
        }

        // One bind at a time: concurrent first requests of a robot share one session.
        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_sessions.TryGetValue(robotId, out var raced))
            {
                if (!raced.Ended)
                {
                    return raced;
                }

                Forget(robotId, raced);
            }

            var opened = await sessions.OpenAsync(robotId, CompatProtocol.A1Http, Guid.NewGuid().ToString("N")[..12],
                TimeSpan.FromSeconds(options.Value.A1SessionIdleSeconds), ended => Forget(ended.RobotId, ended), cancellationToken);
            _sessions[robotId] = opened;
            instruments.OnSessionOpened(Protocol);
            return opened;
        }
        finally
        {
            _opening.Release();
        }
    }

    private void Forget(string robotId, CompatSession? only = null)
    {
        if (_sessions.TryGetValue(robotId, out var session) && (only is null || ReferenceEquals(session, only))
            && _sessions.TryRemove(new KeyValuePair<string, CompatSession>(robotId, session)))
        {
            instruments.OnSessionClosed(Protocol);
            _ = session.DisposeAsync().AsTask();
        }
    }

    /// <summary>The robot credential: the password of HTTP Basic (a URL's user:password), or a Bearer / Api-Key token.</summary>
    internal static string? Credential(string authorization)
    {
        if (authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                var password = colon >= 0 ? decoded[(colon + 1)..] : "";
                return password.Length > 0 ? Uri.UnescapeDataString(password) : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        return OpenPiEndpoint.ApiKey(authorization);
    }

    private static IEnumerable<JsonNode?> Location(string field)
    {
        // "images[1]" -> "images", 1; "proprio_data[0][3]" -> "proprio_data", 0, 3.
        var bracket = field.IndexOf('[', StringComparison.Ordinal);
        if (bracket < 0)
        {
            yield return field;
            yield break;
        }

        yield return field[..bracket];
        while (bracket >= 0 && field.IndexOf(']', bracket) is var close and > 0
            && int.TryParse(field.AsSpan(bracket + 1, close - bracket - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            yield return index;
            bracket = close + 1 < field.Length && field[close + 1] == '[' ? close + 1 : -1;
        }
    }

    private static JsonObject Error(string type, JsonNode?[] location, string message, JsonNode? input) => new()
    {
        ["type"] = type,
        ["loc"] = new JsonArray(location),
        ["msg"] = message,
        ["input"] = input,
    };

    private static Task Validation(HttpContext context, List<JsonObject> errors) =>
        Json(context, StatusCodes.Status422UnprocessableEntity, new JsonObject { ["detail"] = new JsonArray([.. errors]) });

    private static Task Detail(HttpContext context, int status, string detail) => Json(context, status, new JsonObject { ["detail"] = detail });

    private static async Task Json(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    /// <summary>A1's timestamp: local time, ISO 8601 without an offset (Python's datetime.now().isoformat()).</summary>
    private string Timestamp() => time.GetLocalNow().DateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        foreach (var robotId in _sessions.Keys)
        {
            if (_sessions.TryRemove(robotId, out var session))
            {
                await session.DisposeAsync();
            }
        }

        _opening.Dispose();
    }

    [LoggerMessage(EventId = 841, Level = LogLevel.Information, Message = "A1 HTTP: robot {RobotId} set its own latency budget to {BudgetMs} ms")]
    private partial void LogBudgetSet(string robotId, double budgetMs);

    [LoggerMessage(EventId = 840, Level = LogLevel.Information, Message = "A1 HTTP: request of robot {RobotId} not served ({Failure}): {Message}")]
    private partial void LogRequestFailed(string robotId, CompatFailure failure, string message);
}
