using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using A1Fleet.Api.Contracts;
using A1Fleet.Grains;

namespace A1Fleet.Operator.Client;

/// <summary>
/// Typed calls to the silos' operator API (silo/A1Fleet.Silo/Api/OperatorApi.cs). A non-success
/// answer becomes an <see cref="OperatorApiException"/> carrying the server's ProblemDetails detail;
/// a cluster that cannot be reached surfaces as <see cref="HttpRequestException"/>, which callers
/// report with the URL they were given.
/// </summary>
public sealed class OperatorClient(HttpClient http)
{
    /// <summary>Per request, not per job: a calibration is polled, never awaited in one call.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The API's JSON: web defaults (camelCase), and enums read from either names or numbers.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Where a1ctl and the calibration job's cluster mode read the operator API key from when no flag gives one.</summary>
    public const string ApiKeyEnvironmentVariable = "A1FLEET_API_KEY";

    public Uri? BaseAddress => http.BaseAddress;

    /// <summary>
    /// An <see cref="HttpClient"/> for <paramref name="baseAddress"/> with <see cref="DefaultTimeout"/>, sending
    /// <paramref name="apiKey"/> as a bearer token when given; the handler is left to its owner.
    /// </summary>
    public static HttpClient CreateHttpClient(Uri baseAddress, HttpMessageHandler? handler = null, string? apiKey = null)
    {
        var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.BaseAddress = baseAddress;
        client.Timeout = DefaultTimeout;
        if (!string.IsNullOrWhiteSpace(apiKey))
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey.Trim());
        }

        return client;
    }

    /// <summary>The key from the environment (<see cref="ApiKeyEnvironmentVariable"/>), or null.</summary>
    public static string? ApiKeyFromEnvironment() => Environment.GetEnvironmentVariable(ApiKeyEnvironmentVariable) is { Length: > 0 } key ? key : null;

    /// <summary>Parses an operator API base URL (absolute http or https); the error says what is wrong with it.</summary>
    public static bool TryParseBaseAddress(string text, out Uri address, out string? error)
    {
        if (Uri.TryCreate(text, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https")
        {
            address = parsed;
            error = null;
            return true;
        }

        address = null!;
        error = "must be an absolute http:// or https:// URL of a silo's HTTP port, e.g. http://a1fleet-silo:8080";
        return false;
    }

    public Task<List<RobotStatus>> Robots(string selector, CancellationToken ct) => Get<List<RobotStatus>>($"/api/robots?selector={Uri.EscapeDataString(selector)}", ct);

    /// <summary>Who acts is the API key's name (the server ignores any "by"), so none is sent.</summary>
    public Task<CommandResponse> Assign(string selector, string instruction, CancellationToken ct) => Post<CommandResponse>("/api/assignments", new AssignTaskRequest(selector, instruction), ct);

    public Task<CommandResponse> Budget(string selector, double budgetMs, CancellationToken ct) => Post<CommandResponse>("/api/budget", new SetBudgetRequest(selector, budgetMs), ct);

    /// <summary>Per-robot e-stop confirmations; answered whether all robots were confirmed (200) or not (503).</summary>
    public Task<SafetyCommandReport> EStop(string selector, double? deadlineMs, CancellationToken ct) => Safety("/api/estop", selector, deadlineMs, ct);

    public Task<SafetyCommandReport> Resume(string selector, double? deadlineMs, CancellationToken ct) => Safety("/api/resume", selector, deadlineMs, ct);

    public Task<List<Assignment>> Assignments(CancellationToken ct) => Get<List<Assignment>>("/api/assignments", ct);

    public async Task DeleteAssignment(long id, CancellationToken ct)
    {
        using var response = await http.DeleteAsync($"/api/assignments/{id}", ct);
        await ThrowIfFailed(response, ct);
    }

    /// <summary>Shipped compatible-protocol layouts (openpi LIBERO/DROID/ALOHA, A1's camera orders).</summary>
    public Task<List<CompatPresetView>> CompatPresetList(CancellationToken ct) => Get<List<CompatPresetView>>("/api/compat/presets", ct);

    public Task<CompatProfileView> CompatProfile(string robotId, CancellationToken ct) => Get<CompatProfileView>(CompatPath(robotId), ct);

    /// <summary>Sets a robot's compatible-protocol profile (operator role; audited).</summary>
    public Task<CompatProfileView> SetCompatProfile(string robotId, CompatProfileRequest request, CancellationToken ct) => Send<CompatProfileView>(HttpMethod.Put, CompatPath(robotId), request, ct);

    public async Task ClearCompatProfile(string robotId, CancellationToken ct)
    {
        using var response = await http.DeleteAsync(CompatPath(robotId), ct);
        await ThrowIfFailed(response, ct);
    }

    private static string CompatPath(string robotId) => $"/api/robots/{Uri.EscapeDataString(robotId)}/compat";

    public Task<RobotStatus> ReleaseLease(string robotId, string? successorAgentId, CancellationToken ct) =>
        Post<RobotStatus>($"/api/robots/{Uri.EscapeDataString(robotId)}/lease/release", new LeaseReleaseRequest(successorAgentId), ct);

    public Task<CreatedCredential> CreateApiKey(string name, string role, CancellationToken ct) => Post<CreatedCredential>("/api/keys", new CreateApiKeyRequest(name, role), ct);

    public Task<List<CredentialInfo>> ApiKeys(CancellationToken ct) => Get<List<CredentialInfo>>("/api/keys", ct);

    public Task<CredentialInfo> RevokeApiKey(string keyId, CancellationToken ct) => Send<CredentialInfo>(HttpMethod.Delete, $"/api/keys/{Uri.EscapeDataString(keyId)}", null, ct);

    public Task<CreatedCredential> IssueRobotCredential(string robotId, string? name, CancellationToken ct) =>
        Post<CreatedCredential>($"/api/robots/{Uri.EscapeDataString(robotId)}/credentials", new IssueRobotCredentialRequest(name), ct);

    public Task<List<CredentialInfo>> RobotCredentials(string robotId, CancellationToken ct) => Get<List<CredentialInfo>>($"/api/robots/{Uri.EscapeDataString(robotId)}/credentials", ct);

    public Task<CredentialInfo> RevokeRobotCredential(string robotId, string credentialId, CancellationToken ct) =>
        Send<CredentialInfo>(HttpMethod.Delete, $"/api/robots/{Uri.EscapeDataString(robotId)}/credentials/{Uri.EscapeDataString(credentialId)}", null, ct);

    /// <summary>The audit log, newest first.</summary>
    public Task<List<AuditEntry>> Audit(DateTimeOffset? since, int? limit, CancellationToken ct)
    {
        var query = new List<string>();
        if (since is { } s)
        {
            query.Add("since=" + Uri.EscapeDataString(s.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (limit is { } l)
        {
            query.Add("limit=" + l.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return Get<List<AuditEntry>>("/api/audit" + (query.Count == 0 ? "" : "?" + string.Join('&', query)), ct);
    }

    public Task<List<ModelInfo>> Models(CancellationToken ct) => Get<List<ModelInfo>>("/api/models", ct);

    public Task<ModelInfo> Model(string id, CancellationToken ct) => Get<ModelInfo>($"/api/models/{Uri.EscapeDataString(id)}", ct);

    public Task<ThresholdVersionInfo> SetLive(string id, string version, CancellationToken ct) => Post<ThresholdVersionInfo>($"/api/models/{Uri.EscapeDataString(id)}/live", new SetLiveRequest(version), ct);

    /// <summary>
    /// A published threshold set as the model grain holds it: the JSON document of
    /// <c>A1Fleet.EarlyExit.ThresholdSet</c> (what <c>ThresholdSet.FromJson</c> reads). Returned as
    /// text so that this client needs no engine.
    /// </summary>
    public async Task<string> ThresholdSetJson(string modelId, string version, CancellationToken ct)
    {
        using var response = await http.GetAsync($"/api/models/{Uri.EscapeDataString(modelId)}/thresholds/{Uri.EscapeDataString(version)}", ct);
        await ThrowIfFailed(response, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    public Task<CalibrationJobStatus> StartCalibration(StartCalibrationRequest request, CancellationToken ct) => Post<CalibrationJobStatus>("/api/calibrations", request, ct);

    public Task<CalibrationJobStatus> Calibration(string jobId, CancellationToken ct) => Get<CalibrationJobStatus>($"/api/calibrations/{Uri.EscapeDataString(jobId)}", ct);

    public async Task<CalibrationJobStatus> CancelCalibration(string jobId, CancellationToken ct)
    {
        using var response = await http.DeleteAsync($"/api/calibrations/{Uri.EscapeDataString(jobId)}", ct);
        return await Read<CalibrationJobStatus>(response, ct);
    }

    public Task<CalibrationScheduleStatus> SetCalibrationSchedule(string modelId, SetCalibrationScheduleRequest request, CancellationToken ct) =>
        Send<CalibrationScheduleStatus>(HttpMethod.Put, SchedulePath(modelId), request, ct);

    public Task<CalibrationScheduleStatus> CalibrationSchedule(string modelId, CancellationToken ct) => Get<CalibrationScheduleStatus>(SchedulePath(modelId), ct);

    public Task<CalibrationScheduleStatus> ClearCalibrationSchedule(string modelId, CancellationToken ct) =>
        Send<CalibrationScheduleStatus>(HttpMethod.Delete, SchedulePath(modelId), null, ct);

    public Task<ScheduledRun> RunCalibrationSchedule(string modelId, CancellationToken ct) => Post<ScheduledRun>(SchedulePath(modelId) + "/run", new { }, ct);

    private static string SchedulePath(string modelId) => $"/api/models/{Uri.EscapeDataString(modelId)}/calibration-schedule";

    private async Task<SafetyCommandReport> Safety(string path, string selector, double? deadlineMs, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(path, new SafetyCommandRequest(selector, deadlineMs), Json, ct);
        if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable
            && response.Content.Headers.ContentType?.MediaType == "application/json"
            && await response.Content.ReadFromJsonAsync<SafetyCommandReport>(Json, ct) is { Robots: not null } partial)
        {
            return partial;
        }

        return await Read<SafetyCommandReport>(response, ct);
    }

    private async Task<T> Send<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body, body.GetType(), options: Json) };
        using var response = await http.SendAsync(request, ct);
        return await Read<T>(response, ct);
    }

    private async Task<T> Get<T>(string path, CancellationToken ct)
    {
        using var response = await http.GetAsync(path, ct);
        return await Read<T>(response, ct);
    }

    private async Task<T> Post<T>(string path, object body, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(path, body, Json, ct);
        return await Read<T>(response, ct);
    }

    private static async Task<T> Read<T>(HttpResponseMessage response, CancellationToken ct)
    {
        await ThrowIfFailed(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    private static async Task ThrowIfFailed(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var detail = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(detail);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("detail", out var d))
            {
                detail = d.GetString() ?? detail;
            }
        }
        catch (JsonException)
        {
            // Not ProblemDetails (a proxy's error page, say): the raw body is the best detail there is.
        }

        throw new OperatorApiException((int)response.StatusCode, detail);
    }
}

/// <summary>The operator API refused a request; <see cref="Detail"/> is its explanation.</summary>
public sealed class OperatorApiException(int status, string detail) : Exception($"{status}: {detail}")
{
    public int Status { get; } = status;
    public string Detail { get; } = detail;
}
