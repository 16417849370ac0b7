using System.Globalization;
using System.Security.Claims;
using A1Fleet.Api.Contracts;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Grains;
using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Fleet;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Api;

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
        api.MapDelete("/assignments/{id:long}", DeleteAssignment).WithSummary("Delete a standing assignment: robots that register later no longer take it").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/budget", SetBudget).WithSummary("Set the latency budget (ms) of the robots a selector picks").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/estop", (SafetyCommandRequest r, ClaimsPrincipal user, IGrainFactory g, SafetyCommandRetrier retrier, FleetInstruments instruments) => Safety("estop", r, user, g, retrier, instruments, (robot, by) => robot.EStop(by)))
            .WithSummary("E-stop the robots a selector picks; answers per robot, retrying unconfirmed ones until deadlineMs (200 all confirmed, 503 some not)").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/resume", (SafetyCommandRequest r, ClaimsPrincipal user, IGrainFactory g, SafetyCommandRetrier retrier, FleetInstruments instruments) => Safety("resume", r, user, g, retrier, instruments, (robot, by) => robot.Resume(by)))
            .WithSummary("Resume after an e-stop; same answer as /estop").RequireAuthorization(OperatorPolicies.Operator);
        api.MapPost("/robots/{robotId}/lease/release", ReleaseLease).WithSummary("End a robot's lease (the holder is told); the next bind wins, or only successorAgentId's (a take)").RequireAuthorization(OperatorPolicies.Operator);
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

    private static async Task<Results<Ok<CommandResponse>, ProblemHttpResult>> Assign(AssignTaskRequest request, ClaimsPrincipal user, IGrainFactory grains)
    {
        if (InputRules.Instruction(request.Instruction) is { } problem)
        {
            return BadRequest(problem);
        }

        if (!RobotSelector.TryParse(request.Selector, out var selector, out var error))
        {
            return BadRequest(error!);
        }

        var result = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).Assign(selector, request.Instruction, user.ActingAs());
        if (result.Error is not null)
        {
            return BadRequest(result.Error);
        }

        var message = result.Robots.Count == 0
            ? $"assignment {result.AssignmentId} stored, 0 robots now: robots matching '{selector}' take it when they register"
            : $"assignment {result.AssignmentId} sent to {result.Robots.Count} robot(s) and stored for robots that register later";
        return TypedResults.Ok(new CommandResponse(result.Robots, result.AssignmentId, message));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAssignment(long id, IGrainFactory grains) =>
        await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).DeleteAssignment(id) ? TypedResults.NoContent() : NotFound($"assignment {id} does not exist");

    /// <summary>
    /// E-stop or resume with per-robot confirmation. The retry runs here, on the silo that took the request, and
    /// to its deadline even if the caller hangs up: an e-stop is not abandoned because a terminal closed.
    /// </summary>
    private static async Task<Results<JsonHttpResult<SafetyCommandReport>, ProblemHttpResult>> Safety(
        string command, SafetyCommandRequest request, ClaimsPrincipal user, IGrainFactory grains, SafetyCommandRetrier retrier, FleetInstruments instruments, Func<IRobotGrain, string, Task<EStopConfirmation>> action)
    {
        if (!RobotSelector.TryParse(request.Selector, out var selector, out var error))
        {
            return BadRequest(error!);
        }

        var max = retrier.Options.MaxDeadline;
        if (request.DeadlineMs is { } ms && (!double.IsFinite(ms) || ms <= 0 || ms > max.TotalMilliseconds))
        {
            return BadRequest($"deadlineMs {ms} is invalid: use a value within (0, {max.TotalMilliseconds:F0}]");
        }

        var deadline = request.DeadlineMs is { } d ? TimeSpan.FromMilliseconds(d) : retrier.Options.DefaultDeadline;
        var by = user.ActingAs();
        var fleet = grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default);
        var report = await retrier.RunAsync(command, selector, _ => fleet.Resolve(selector), (id, _) => action(grains.GetGrain<IRobotGrain>(id), by), deadline);
        if (report.Error is null && report.Robots.Count == 0)
        {
            return NotFound($"no robot matches '{selector}'");
        }

        instruments.OnOperatorCommand(command);
        if (!report.AllConfirmed)
        {
            instruments.OnUnconfirmed(command, Math.Max(1, report.Robots.Count(r => !r.Confirmed)));
        }

        return TypedResults.Json(report, statusCode: report.AllConfirmed ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<Results<Ok<RobotStatus>, ProblemHttpResult>> ReleaseLease(string robotId, LeaseReleaseRequest? request, ClaimsPrincipal user, IGrainFactory grains)
    {
        var known = await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).Resolve(new RobotSelector(RobotSelectorKind.Robot, robotId));
        if (known.Count == 0)
        {
            return NotFound($"robot '{robotId}' is unknown to the fleet");
        }

        return TypedResults.Ok(await grains.GetGrain<IRobotGrain>(robotId).ReleaseLease(user.ActingAs(), request?.SuccessorAgentId));
    }

    private static async Task<Results<Ok<CommandResponse>, ProblemHttpResult>> SetBudget(SetBudgetRequest request, IGrainFactory grains, IOptions<ApiLimitsOptions> limits)
    {
        if (InputRules.LatencyBudget(request.BudgetMs, limits.Value.MinLatencyBudgetMs) is { } problem)
        {
            return BadRequest(problem);
        }

        // No budget below what the robots' models can do at all (BudgetFloor: the same rule robots setting their own meet).
        if (RobotSelector.TryParse(request.Selector, out var selector, out _)
            && await BudgetFloor.ProblemAsync(grains, await grains.GetGrain<IFleetGrain>(FleetGrainKeys.Default).ModelsOf(selector), request.BudgetMs, limits.Value.MinLatencyBudgetMs) is { } belowFloor)
        {
            return BadRequest(belowFloor);
        }

        return await Fleet(request.Selector, grains, (f, s) => f.SetLatencyBudget(s, request.BudgetMs));
    }

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
        catch (CalibrationJobRejectedException ex)
        {
            // The job grain checked the spec and opened the dataset's meta/ on a GPU silo; the message lists what is wrong.
            return BadRequest(ex.Message);
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
