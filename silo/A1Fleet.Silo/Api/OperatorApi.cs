using A1Fleet.Grains;
using A1Fleet.Grains.Fleet;
using Microsoft.AspNetCore.Http.HttpResults;

namespace A1Fleet.Silo.Api;

public sealed record AssignTaskRequest(string Selector, string Instruction, string? By);
public sealed record SetBudgetRequest(string Selector, double BudgetMs);
public sealed record SelectorRequest(string Selector, string? By);
public sealed record SetLiveRequest(string Version);
public sealed record CommandResponse(IReadOnlyList<string> Robots);
public sealed record StartCalibrationRequest(
    string ModelId,
    string Dataset,
    string[]? Families,
    double[]? Rs,
    string? Metric,
    string? Decode,
    int? Shards,
    double? HoldoutShare,
    bool? SkipBadData,
    string? MakeLive,
    int? BatchSize,
    string? JobId);

/// <summary>
/// The operator surface over HTTP: robots, assignments, budgets, e-stop, models and threshold
/// versions. Every error is a ProblemDetails naming what was wrong, and a rejected command changes nothing.
/// </summary>
public static class OperatorApi
{
    public static IEndpointRouteBuilder MapOperatorApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("operator");
        api.MapGet("/robots", ListRobots).WithSummary("List robots and their status (selector: all, robot:ID, tag:NAME, embodiment:KIND)");
        api.MapGet("/robots/{robotId}", GetRobot).WithSummary("One robot's status");
        api.MapPost("/assignments", Assign).WithSummary("Assign a task to the robots a selector picks");
        api.MapGet("/assignments", (IGrainFactory grains) => grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListAssignments()).WithSummary("Persisted assignments");
        api.MapPost("/budget", SetBudget).WithSummary("Set the latency budget (ms) of the robots a selector picks");
        api.MapPost("/estop", (SelectorRequest r, IGrainFactory g) => Fleet(r.Selector, g, (f, s) => f.EStop(s, r.By ?? "operator"))).WithSummary("E-stop the robots a selector picks");
        api.MapPost("/resume", (SelectorRequest r, IGrainFactory g) => Fleet(r.Selector, g, (f, s) => f.Resume(s, r.By ?? "operator"))).WithSummary("Resume after an e-stop");
        api.MapGet("/models", ListModels).WithSummary("Models served by the cluster with their threshold versions");
        api.MapGet("/models/{modelId}", GetModel).WithSummary("One model's threshold versions");
        api.MapGet("/models/{modelId}/versions/{version}", GetVersion).WithSummary("One threshold version's document (the threshold set's JSON)");
        api.MapPost("/models/{modelId}/live", SetLive).WithSummary("Make a threshold version live (roll back or forward)");
        api.MapPost("/calibrations", StartCalibration).WithSummary("Start a calibration job: shards a LeRobot dataset over GPU silos and publishes threshold sets");
        api.MapGet("/calibrations/{jobId}", GetCalibration).WithSummary("A calibration job's progress (shards, samples, ETA) and what it published");
        api.MapDelete("/calibrations/{jobId}", CancelCalibration).WithSummary("Cancel a calibration job");
        return app;
    }

    private static async Task<Results<Ok<IReadOnlyList<RobotStatus>>, ProblemHttpResult>> ListRobots(string? selector, IGrainFactory grains)
    {
        if (!RobotSelector.TryParse(selector ?? "all", out var parsed, out var error))
        {
            return BadRequest(error!);
        }

        return TypedResults.Ok(await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListRobots(parsed));
    }

    private static async Task<Results<Ok<RobotStatus>, ProblemHttpResult>> GetRobot(string robotId, IGrainFactory grains)
    {
        var statuses = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListRobots(new RobotSelector(RobotSelectorKind.Robot, robotId));
        return statuses.Count == 0 ? NotFound($"robot '{robotId}' is unknown to the fleet") : TypedResults.Ok(statuses[0]);
    }

    private static Task<Results<Ok<CommandResponse>, ProblemHttpResult>> Assign(AssignTaskRequest request, IGrainFactory grains) =>
        string.IsNullOrWhiteSpace(request.Instruction)
            ? Task.FromResult<Results<Ok<CommandResponse>, ProblemHttpResult>>(BadRequest("instruction is empty"))
            : Fleet(request.Selector, grains, (f, s) => f.Assign(s, request.Instruction, request.By ?? "operator"));

    private static Task<Results<Ok<CommandResponse>, ProblemHttpResult>> SetBudget(SetBudgetRequest request, IGrainFactory grains) =>
        !double.IsFinite(request.BudgetMs) || request.BudgetMs <= 0 || request.BudgetMs > 60_000
            ? Task.FromResult<Results<Ok<CommandResponse>, ProblemHttpResult>>(BadRequest($"budget {request.BudgetMs} ms is invalid: use a value within (0, 60000]"))
            : Fleet(request.Selector, grains, (f, s) => f.SetLatencyBudget(s, request.BudgetMs));

    private static async Task<Results<Ok<CommandResponse>, ProblemHttpResult>> Fleet(string? selector, IGrainFactory grains, Func<IFleetGrain, RobotSelector, Task<CommandResult>> command)
    {
        if (!RobotSelector.TryParse(selector, out var parsed, out var error))
        {
            return BadRequest(error!);
        }

        var result = await command(grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default), parsed);
        if (result.Error is not null)
        {
            return result.Robots.Count == 0 && result.Error.StartsWith("no robot matches", StringComparison.Ordinal) ? NotFound(result.Error) : BadRequest(result.Error);
        }

        return TypedResults.Ok(new CommandResponse(result.Robots));
    }

    private static async Task<Ok<ModelInfo[]>> ListModels(IGrainFactory grains)
    {
        var ids = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
        return TypedResults.Ok(await Task.WhenAll(ids.Select(id => grains.GetGrain<IModelGrain>(id).GetInfo())));
    }

    private static async Task<Results<Ok<ModelInfo>, ProblemHttpResult>> GetModel(string modelId, IGrainFactory grains)
    {
        var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
        return known.Contains(modelId) ? TypedResults.Ok(await grains.GetGrain<IModelGrain>(modelId).GetInfo()) : NotFound($"model '{modelId}' is not served by the cluster (serving: {string.Join(", ", known)})");
    }

    private static async Task<Results<Ok<ThresholdDocument>, ProblemHttpResult>> GetVersion(string modelId, string version, IGrainFactory grains)
    {
        var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
        if (!known.Contains(modelId))
        {
            return NotFound($"model '{modelId}' is not served by the cluster");
        }

        return await grains.GetGrain<IModelGrain>(modelId).GetVersion(version) is { } document
            ? TypedResults.Ok(document)
            : NotFound($"model '{modelId}' has no threshold version '{version}'");
    }

    private static async Task<Results<Ok<ThresholdVersionInfo>, ProblemHttpResult>> SetLive(string modelId, SetLiveRequest request, IGrainFactory grains)
    {
        var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
        if (!known.Contains(modelId))
        {
            return NotFound($"model '{modelId}' is not served by the cluster");
        }

        try
        {
            return TypedResults.Ok(await grains.GetGrain<IModelGrain>(modelId).SetLive(request.Version));
        }
        catch (ArgumentException ex)
        {
            return NotFound(ex.Message);
        }
    }

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> StartCalibration(StartCalibrationRequest r, IGrainFactory grains)
    {
        var spec = new CalibrationJobSpec(r.ModelId, r.Dataset, r.Families ?? ["exp"], r.Rs ?? [1.0, 0.7, 0.4, 0.1], r.Metric, r.Decode ?? "exit-warm-k2",
            r.Shards ?? 4, r.HoldoutShare ?? 0.25, r.SkipBadData ?? true, r.MakeLive, r.BatchSize ?? 16);
        // A job id names one job: starting the same id again returns that job (a retried request does not start a second one).
        var jobId = string.IsNullOrWhiteSpace(r.JobId) ? $"{r.ModelId}-{DateTimeOffset.UtcNow:yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}" : r.JobId;
        try
        {
            return TypedResults.Ok(await grains.GetGrain<ICalibrationJobGrain>(jobId).Start(spec));
        }
        catch (ArgumentException ex)
        {
            return BadRequest(ex.Message);
        }
    }

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> GetCalibration(string jobId, IGrainFactory grains) =>
        await grains.GetGrain<ICalibrationJobGrain>(jobId).GetStatus() is { } status ? TypedResults.Ok(status) : NotFound($"calibration job '{jobId}' does not exist");

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> CancelCalibration(string jobId, IGrainFactory grains) =>
        await grains.GetGrain<ICalibrationJobGrain>(jobId).Cancel() is { } status ? TypedResults.Ok(status) : NotFound($"calibration job '{jobId}' does not exist");

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
