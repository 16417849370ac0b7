using A1Fleet.Api.Contracts;
using A1Fleet.Grains;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace A1Fleet.Silo.Api;

/// <summary>Recalibration on a reminder, per model: set, read, run now, clear.</summary>
public static class CalibrationScheduleApi
{
    public static IEndpointRouteBuilder MapCalibrationScheduleApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/models/{modelId}/calibration-schedule").WithTags("operator").RequireAuthorization(OperatorPolicies.Viewer);
        api.MapGet("", (string modelId, IGrainFactory grains) => grains.GetGrain<ICalibrationScheduleGrain>(modelId).Get())
            .WithSummary("A model's recalibration schedule, when it next runs and what its recent ticks did");
        api.MapPut("", Set).WithSummary("Recalibrate a model every N minutes (a reminder drives it; optionally only when the model or dataset changed)").RequireAuthorization(OperatorPolicies.Admin);
        api.MapDelete("", (string modelId, IGrainFactory grains) => grains.GetGrain<ICalibrationScheduleGrain>(modelId).Clear())
            .WithSummary("Stop recalibrating a model on a schedule (jobs already started run on)").RequireAuthorization(OperatorPolicies.Admin);
        api.MapPost("/run", RunNow).WithSummary("Do now what the next scheduled tick would do").RequireAuthorization(OperatorPolicies.Admin);
        return app;
    }

    private static async Task<Results<Ok<CalibrationScheduleStatus>, ProblemHttpResult>> Set(string modelId, SetCalibrationScheduleRequest r, IGrainFactory grains)
    {
        if (!double.IsFinite(r.EveryMinutes) || r.EveryMinutes <= 0 || r.FirstRunAfterSeconds is { } first && (!double.IsFinite(first) || first < 0))
        {
            return BadRequest($"everyMinutes {r.EveryMinutes} must be a positive number and firstRunAfterSeconds {r.FirstRunAfterSeconds} a non-negative one");
        }

        if (await OperatorApi.CalibrationRequestProblems(modelId, r.Dataset, grains) is { } problems)
        {
            return BadRequest("invalid calibration schedule: " + problems);
        }

        var job = r.ToSpec(modelId);
        var schedule = new CalibrationSchedule(job, TimeSpan.FromMinutes(r.EveryMinutes), r.OnlyWhenChanged ?? true);
        try
        {
            return TypedResults.Ok(await grains.GetGrain<ICalibrationScheduleGrain>(modelId)
                .Set(schedule, r.FirstRunAfterSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null));
        }
        catch (ArgumentException ex)
        {
            return BadRequest(ex.Message);
        }
    }

    private static async Task<Results<Ok<ScheduledRun>, ProblemHttpResult>> RunNow(string modelId, IGrainFactory grains)
    {
        try
        {
            return TypedResults.Ok(await grains.GetGrain<ICalibrationScheduleGrain>(modelId).RunNow());
        }
        catch (InvalidOperationException ex)
        {
            return TypedResults.Problem(ex.Message, statusCode: StatusCodes.Status404NotFound, title: "Not found");
        }
    }

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
}
