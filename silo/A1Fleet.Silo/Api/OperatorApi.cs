using System.Security.Claims;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Grains;
using A1Fleet.Grains.Fleet;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Api;

/// <summary>Who acts is the API key's name, not a field: a "by" in the body is ignored.</summary>
public sealed record AssignTaskRequest(string Selector, string Instruction);
public sealed record SetBudgetRequest(string Selector, double BudgetMs);
public sealed record SelectorRequest(string Selector);
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
    string? JobId)
{
    /// <summary>The job spec, with the server's defaults for what the request leaves out.</summary>
    public CalibrationJobSpec ToSpec() => new(ModelId, Dataset, Families ?? ["exp"], Rs ?? [1.0, 0.7, 0.4, 0.1], Metric, Decode ?? "exit-warm-k2",
        Shards ?? 4, HoldoutShare ?? 0.25, SkipBadData ?? true, MakeLive, BatchSize ?? 16);
}

/// <summary>
/// The operator surface over HTTP: robots, assignments, budgets, e-stop, models and threshold
/// versions. Every error is a ProblemDetails naming what was wrong, and a rejected command changes nothing.
/// </summary>
public static class OperatorApi
{
    public static IEndpointRouteBuilder MapOperatorApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("operator").RequireAuthorization(OperatorPolicies.Viewer);
        api.MapGet("/robots", ListRobots).WithSummary("List robots and their status (selector: all, robot:ID, tag:NAME, embodiment:KIND)");
        api.MapGet("/robots/{robotId}", GetRobot).WithSummary("One robot's status");
        api.MapPost("/assignments", Assign).WithSummary("Assign a task to the robots a selector picks").RequireAuthorization(OperatorPolicies.Operator);
        api.MapGet("/assignments", (IGrainFactory grains) => grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListAssignments()).WithSummary("Persisted assignments");
        api.MapPost("/budget", SetBudget).WithSummary("Set the latency budget (ms) of the robots a selector picks").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/estop", (SelectorRequest r, ClaimsPrincipal user, IGrainFactory g) => Fleet(r.Selector, g, (f, s) => f.EStop(s, user.ActingAs()))).WithSummary("E-stop the robots a selector picks").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/resume", (SelectorRequest r, ClaimsPrincipal user, IGrainFactory g) => Fleet(r.Selector, g, (f, s) => f.Resume(s, user.ActingAs()))).WithSummary("Resume after an e-stop").RequireAuthorization(OperatorPolicies.Operator);
        api.MapGet("/models", ListModels).WithSummary("Models served by the cluster with their threshold versions");
        api.MapGet("/models/{modelId}", GetModel).WithSummary("One model's threshold versions");
        api.MapPost("/models/{modelId}/live", SetLive).WithSummary("Make a threshold version live (roll back or forward)").RequireAuthorization(OperatorPolicies.Admin);
        api.MapGet("/models/{modelId}/thresholds/{version}", GetThresholdSet).WithSummary("One published threshold set, as the JSON document ThresholdSet.Load reads (thresholds, expected exit shares and layer fraction, provenance)");
        api.MapPost("/calibrations", StartCalibration).WithSummary("Start a calibration job: shards a LeRobot dataset over GPU silos and publishes threshold sets").RequireAuthorization(OperatorPolicies.Admin);
        api.MapGet("/calibrations/{jobId}", GetCalibration).WithSummary("A calibration job's progress (shards, samples, ETA) and what it published");
        api.MapDelete("/calibrations/{jobId}", CancelCalibration).WithSummary("Cancel a calibration job").RequireAuthorization(OperatorPolicies.Admin);
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

    private static Task<Results<Ok<CommandResponse>, ProblemHttpResult>> Assign(AssignTaskRequest request, ClaimsPrincipal user, IGrainFactory grains) =>
        InputRules.Instruction(request.Instruction) is { } problem
            ? Task.FromResult<Results<Ok<CommandResponse>, ProblemHttpResult>>(BadRequest(problem))
            : Fleet(request.Selector, grains, (f, s) => f.Assign(s, request.Instruction, user.ActingAs()));

    private static Task<Results<Ok<CommandResponse>, ProblemHttpResult>> SetBudget(SetBudgetRequest request, IGrainFactory grains, IOptions<ApiLimitsOptions> limits) =>
        InputRules.LatencyBudget(request.BudgetMs, limits.Value.MinLatencyBudgetMs) is { } problem
            ? Task.FromResult<Results<Ok<CommandResponse>, ProblemHttpResult>>(BadRequest(problem))
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

    private static async Task<Results<ContentHttpResult, ProblemHttpResult>> GetThresholdSet(string modelId, string version, IGrainFactory grains)
    {
        var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
        if (!known.Contains(modelId))
        {
            return NotFound($"model '{modelId}' is not served by the cluster (serving: {string.Join(", ", known)})");
        }

        // The document is served verbatim: it is what inference grains load, so a client computing
        // from it (the calibration job's tables) sees exactly the published numbers.
        return await grains.GetGrain<IModelGrain>(modelId).GetVersion(version) is { } document
            ? TypedResults.Text(document.Json, "application/json")
            : NotFound($"model '{modelId}' has no threshold version '{version}'");
    }

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> StartCalibration(StartCalibrationRequest r, IGrainFactory grains)
    {
        if (await CalibrationRequestProblems(r.ModelId, r.Dataset, grains) is { } problems)
        {
            return BadRequest("invalid calibration job: " + problems);
        }

        if (!string.IsNullOrWhiteSpace(r.JobId) && InputRules.Name(r.JobId, "jobId") is { } jobIdProblem)
        {
            return BadRequest(jobIdProblem);
        }

        var spec = r.ToSpec();
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
        catch (Exception ex) when (ex is DatasetFormatException or MappingException)
        {
            // The job grain opened the dataset's meta/ on a GPU silo and listed what is wrong with it.
            return BadRequest(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return BadRequest($"dataset '{r.Dataset}' cannot be read by the GPU silos: {ex.Message}");
        }
    }

    /// <summary>
    /// What this silo can check of a calibration request without the dataset: the model and the path. The dataset
    /// itself is only opened by the job grain on a GPU silo, the silos that must be able to read it. Null when fine.
    /// </summary>
    internal static async Task<string?> CalibrationRequestProblems(string? modelId, string? dataset, IGrainFactory grains)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(modelId))
        {
            problems.Add("modelId is required");
        }
        else
        {
            var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ListModels();
            if (!known.Contains(modelId))
            {
                problems.Add($"model '{modelId}' is not served by the cluster (serving: {(known.Count == 0 ? "none" : string.Join(", ", known))})");
            }
        }

        if (string.IsNullOrWhiteSpace(dataset))
        {
            problems.Add("dataset is required");
        }
        else if (dataset.Length > MaxDatasetPathLength || InputRules.UnsafeCharacter(dataset) is not null)
        {
            problems.Add($"dataset path must be at most {MaxDatasetPathLength} characters without control characters");
        }
        else if (!Path.IsPathFullyQualified(dataset))
        {
            problems.Add($"dataset path '{dataset}' must be absolute: the GPU silos read it, and a relative path would name their working directory");
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> GetCalibration(string jobId, IGrainFactory grains) =>
        await grains.GetGrain<ICalibrationJobGrain>(jobId).GetStatus() is { } status ? TypedResults.Ok(status) : NotFound($"calibration job '{jobId}' does not exist");

    private static async Task<Results<Ok<CalibrationJobStatus>, ProblemHttpResult>> CancelCalibration(string jobId, IGrainFactory grains) =>
        await grains.GetGrain<ICalibrationJobGrain>(jobId).Cancel() is { } status ? TypedResults.Ok(status) : NotFound($"calibration job '{jobId}' does not exist");

    /// <summary>Longest dataset path a calibration request may name (PATH_MAX on Linux).</summary>
    public const int MaxDatasetPathLength = 4096;

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
