using System.Security.Claims;
using System.Text;
using System.Text.Json;
using A1Fleet.Grains;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Security;

/// <summary>
/// The outermost piece of the /api pipeline: caps the request body, and records every mutating call (POST, PUT,
/// PATCH, DELETE) in the persisted audit log once its answer is known, refusals (400, 401, 403, 413, 415, 429)
/// included. Who is the authenticated key (id, name, role), never a field of the request; what is the method,
/// the route, the target (route values and selector) and a bounded summary of the body's fields.
/// </summary>
public sealed partial class AuditMiddleware(
    RequestDelegate next, IGrainFactory grains, TimeProvider time, IOptions<ApiLimitsOptions> limits, SecurityInstruments instruments, ILogger<AuditMiddleware> logger)
{
    private const int MaxFieldChars = 80;
    private const int MaxSummaryChars = 600;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        // Before anything reads the body: Kestrel answers 413 (as problem details, see ApiProblems) past the cap.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes;
        }

        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        {
            await next(context);
            instruments.OnAnswered(context.Response.StatusCode);
            return;
        }

        // Buffered so the summary can be read after the endpoint did; bounded by the cap set above.
        context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: limits.Value.MaxRequestBodyBytes);
        try
        {
            await next(context);
        }
        finally
        {
            instruments.OnAnswered(context.Response.StatusCode);
            await Record(context);
        }
    }

    private async Task Record(HttpContext context)
    {
        var user = context.User;
        var authenticated = user.Identity?.IsAuthenticated == true;
        var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.ToString();
        var (target, parameters) = await Summarise(context);
        var entry = new AuditEntry(
            0,
            time.GetUtcNow(),
            authenticated ? user.FindFirstValue(ClaimTypes.NameIdentifier) : null,
            authenticated ? user.FindFirstValue(ClaimTypes.Name) : null,
            authenticated ? user.FindFirstValue(ClaimTypes.Role) : null,
            context.Request.Method,
            Cap(route, 200),
            target,
            parameters,
            context.Response.StatusCode,
            context.Connection.RemoteIpAddress?.ToString());
        try
        {
            await grains.GetGrain<IAuditLogGrain>(IAuditLogGrain.Default).Append(entry);
        }
        catch (Exception ex)
        {
            // The call already happened; losing its record must be loud, but cannot undo it.
            instruments.OnAuditWriteFailed();
            LogAuditFailed(ex, entry.Method, entry.Route, entry.Status);
        }
    }

    private static async Task<(string? Target, string? Parameters)> Summarise(HttpContext context)
    {
        var targets = context.Request.RouteValues.Where(v => v.Value is string).Select(v => $"{v.Key}={Cap((string)v.Value!, MaxFieldChars)}").ToList();
        var parameters = new StringBuilder();
        try
        {
            // Refused calls (401, 403) never had their body read by an endpoint: read it here, within the cap.
            context.Request.Body.Position = 0;
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            if (body.Length > 0)
            {
                body.Position = 0;
                using var document = await JsonDocument.ParseAsync(body, cancellationToken: context.RequestAborted);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in document.RootElement.EnumerateObject())
                    {
                        var value = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() ?? "" : property.Value.GetRawText();
                        if (property.NameEquals("selector"))
                        {
                            targets.Add($"selector={Cap(value, MaxFieldChars)}");
                        }

                        parameters.Append(parameters.Length == 0 ? "" : ", ").Append(Cap(property.Name, 40)).Append('=').Append(Cap(value, MaxFieldChars));
                    }
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or BadHttpRequestException or IOException or InvalidOperationException or NotSupportedException)
        {
            parameters.Append(parameters.Length == 0 ? "" : ", ").Append("(body not readable as JSON)");
        }

        return (targets.Count == 0 ? null : string.Join(", ", targets), parameters.Length == 0 ? null : Cap(parameters.ToString(), MaxSummaryChars));
    }

    /// <summary>Escaped (whoever reads the log reads it in a terminal) and cut to <paramref name="max"/> characters.</summary>
    private static string Cap(string text, int max)
    {
        var escaped = Printable.Escape(text);
        return escaped.Length <= max ? escaped : escaped[..(max - 1)] + "…";
    }

    [LoggerMessage(EventId = 730, Level = LogLevel.Error, Message = "Could not record {Method} {Route} (status {Status}) in the audit log")]
    private partial void LogAuditFailed(Exception exception, string method, string route, int status);
}
