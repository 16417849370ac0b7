using System.Net.Http.Json;
using System.Text.Json;
using A1Fleet.Grains;

namespace A1Fleet.Operator;

/// <summary>Typed calls to the operator API; a non-success answer becomes an <see cref="OperatorApiException"/> carrying the server's detail.</summary>
internal sealed class OperatorClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task<List<RobotStatus>> Robots(string selector, CancellationToken ct) => Get<List<RobotStatus>>($"/api/robots?selector={Uri.EscapeDataString(selector)}", ct);

    public Task<CommandResponse> Assign(string selector, string instruction, string by, CancellationToken ct) => Post<CommandResponse>("/api/assignments", new { selector, instruction, by }, ct);

    public Task<CommandResponse> Budget(string selector, double budgetMs, CancellationToken ct) => Post<CommandResponse>("/api/budget", new { selector, budgetMs }, ct);

    public Task<CommandResponse> EStop(string selector, string by, CancellationToken ct) => Post<CommandResponse>("/api/estop", new { selector, by }, ct);

    public Task<CommandResponse> Resume(string selector, string by, CancellationToken ct) => Post<CommandResponse>("/api/resume", new { selector, by }, ct);

    public Task<List<ModelInfo>> Models(CancellationToken ct) => Get<List<ModelInfo>>("/api/models", ct);

    public Task<ModelInfo> Model(string id, CancellationToken ct) => Get<ModelInfo>($"/api/models/{Uri.EscapeDataString(id)}", ct);

    public Task<ThresholdVersionInfo> SetLive(string id, string version, CancellationToken ct) => Post<ThresholdVersionInfo>($"/api/models/{Uri.EscapeDataString(id)}/live", new { version }, ct);

    public Task<CalibrationJobStatus> StartCalibration(object request, CancellationToken ct) => Post<CalibrationJobStatus>("/api/calibrations", request, ct);

    public Task<CalibrationJobStatus> Calibration(string jobId, CancellationToken ct) => Get<CalibrationJobStatus>($"/api/calibrations/{Uri.EscapeDataString(jobId)}", ct);

    public async Task<CalibrationJobStatus> CancelCalibration(string jobId, CancellationToken ct)
    {
        using var response = await http.DeleteAsync($"/api/calibrations/{Uri.EscapeDataString(jobId)}", ct);
        return await Read<CalibrationJobStatus>(response, ct);
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
        if (!response.IsSuccessStatusCode)
        {
            var detail = await response.Content.ReadAsStringAsync(ct);
            try
            {
                using var doc = JsonDocument.Parse(detail);
                if (doc.RootElement.TryGetProperty("detail", out var d))
                {
                    detail = d.GetString() ?? detail;
                }
            }
            catch (JsonException)
            {
            }

            throw new OperatorApiException((int)response.StatusCode, detail);
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }
}

internal sealed record CommandResponse(List<string> Robots);

internal sealed class OperatorApiException(int status, string detail) : Exception($"{status}: {detail}")
{
    public int Status { get; } = status;
    public string Detail { get; } = detail;
}
