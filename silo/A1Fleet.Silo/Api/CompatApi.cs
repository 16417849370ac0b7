using System.Security.Claims;
using A1Fleet.Grains;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace A1Fleet.Silo.Api;

/// <summary>
/// Operators configure how a robot that speaks a field protocol (openpi, A1's HTTP API) maps onto its model
/// (docs/compatible-protocols.md). Mutations need the operator role and are audited like every /api mutation.
/// </summary>
public static class CompatApi
{
    public static IEndpointRouteBuilder MapCompatApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("compat").RequireAuthorization(OperatorPolicies.Viewer);
        api.MapGet("/compat/presets", () => CompatPresets.All.Select(p => new CompatPresetView(p.Name, AgentProtocols.Name(p.Protocol), p.Cameras, p.CameraOrder, p.StateKeys, p.Description)))
            .WithSummary("Shipped layouts: openpi LIBERO, DROID, ALOHA; A1's camera orders");
        api.MapGet("/robots/{robotId}/compat", Get).WithSummary("A robot's compatible-protocol profile");
        api.MapPut("/robots/{robotId}/compat", Set).WithSummary("Set a robot's compatible-protocol profile: a preset, overridden by the other fields").RequireAuthorization(OperatorPolicies.Operator);
        api.MapDelete("/robots/{robotId}/compat", Clear).WithSummary("Remove a robot's profile: its compatible clients are refused from their next connection").RequireAuthorization(OperatorPolicies.Operator);
        return app;
    }

    private static async Task<Results<Ok<CompatProfileView>, ProblemHttpResult>> Get(string robotId, IGrainFactory grains)
    {
        if (InputRules.Name(robotId, "robotId") is { } problem)
        {
            return BadRequest(problem);
        }

        return await grains.GetGrain<ICompatProfileGrain>(robotId).Get() is { } profile
            ? TypedResults.Ok(CompatProfileView.Of(robotId, profile))
            : NotFound($"robot '{robotId}' has no compatible-protocol profile");
    }

    private static async Task<Results<Ok<CompatProfileView>, ProblemHttpResult>> Set(string robotId, CompatProfileRequest request, ClaimsPrincipal user, IGrainFactory grains)
    {
        if (InputRules.Name(robotId, "robotId") is { } badRobot)
        {
            return BadRequest(badRobot);
        }

        var preset = CompatPresets.Find(request.Preset);
        if (request.Preset is not null && preset is null)
        {
            return BadRequest($"preset '{Printable.Escape(request.Preset)}' is unknown: use one of {string.Join(", ", CompatPresets.All.Select(p => p.Name))}");
        }

        var existing = await grains.GetGrain<ICompatProfileGrain>(robotId).Get();
        if (preset is null && existing is null && (request.Protocol is null || request.Cameras is null))
        {
            return BadRequest("preset is missing: start from a preset (GET /api/compat/presets), or give protocol, cameras and their keys");
        }

        var modelId = request.ModelId ?? existing?.ModelId;
        if (modelId is null || InputRules.Name(modelId, "modelId") is { } badModel)
        {
            return BadRequest(modelId is null ? "modelId is missing" : InputRules.Name(modelId, "modelId")!);
        }

        var model = await grains.GetGrain<IModelGrain>(modelId).GetSpec();
        if (model is null)
        {
            return BadRequest($"modelId '{modelId}' is not served by any GPU silo");
        }

        Embodiment embodiment;
        if (request.Embodiment is null)
        {
            embodiment = existing?.Embodiment ?? Embodiment.Franka;
        }
        else if (!Enum.TryParse(request.Embodiment, ignoreCase: true, out embodiment) || !Enum.IsDefined(embodiment))
        {
            return BadRequest($"embodiment '{Printable.Escape(request.Embodiment)}' is unknown: use franka, agibot, openarm or dobot");
        }

        var protocol = request.Protocol is null ? preset?.Protocol ?? existing?.Protocol : AgentProtocols.Parse(request.Protocol);
        if (protocol is null)
        {
            return BadRequest($"protocol '{Printable.Escape(request.Protocol)}' is unknown: use openpi or a1-http");
        }

        var source = request.InstructionSource?.ToLowerInvariant() switch
        {
            null => existing?.InstructionSource ?? InstructionSource.Prompt,
            "prompt" => InstructionSource.Prompt,
            "task" or "assigned-task" => InstructionSource.AssignedTask,
            _ => (InstructionSource)(-1),
        };
        if (!Enum.IsDefined(source))
        {
            return BadRequest($"instructionSource '{Printable.Escape(request.InstructionSource)}' is unknown: use prompt (the client's prompt wins) or task (the assigned task wins)");
        }

        var basis = preset is not null
            ? CompatPresets.ToProfile(preset, modelId, embodiment, model.Cameras.Length, source, request.ControlHz ?? existing?.ControlHz ?? 10)
            : (existing ?? new CompatProfile(protocol.Value, "custom", modelId, embodiment, [], [], [], source, "{}", 10)) with
            {
                ModelId = modelId,
                Embodiment = embodiment,
                InstructionSource = source,
                ControlHz = request.ControlHz ?? existing?.ControlHz ?? 10,
            };
        var profile = basis with
        {
            Protocol = protocol.Value,
            Layout = request.Cameras is null && request.StateKeys is null && request.CameraOrder is null ? basis.Layout : "custom",
            Cameras = request.Cameras ?? basis.Cameras,
            CameraOrder = request.CameraOrder ?? basis.CameraOrder,
            StateKeys = request.StateKeys ?? basis.StateKeys,
            MetadataJson = request.Metadata is { } metadata ? metadata.GetRawText() : basis.MetadataJson,
            RobotBudgetMinMs = request.RobotBudgetMinMs ?? existing?.RobotBudgetMinMs,
            RobotBudgetMaxMs = request.RobotBudgetMaxMs ?? existing?.RobotBudgetMaxMs,
        };
        if (profile.Validate() is { } problem)
        {
            return BadRequest(problem);
        }

        if (profile.Cameras.Count != model.Cameras.Length)
        {
            return BadRequest($"cameras: {profile.Cameras.Count} given; model '{modelId}' has {model.Cameras.Length} ({string.Join(", ", model.Cameras.Select(c => c.Name))}), one source each, in that order");
        }

        var stored = await grains.GetGrain<ICompatProfileGrain>(robotId).Set(profile, user.ActingAs());
        return TypedResults.Ok(CompatProfileView.Of(robotId, stored));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Clear(string robotId, ClaimsPrincipal user, IGrainFactory grains)
    {
        if (InputRules.Name(robotId, "robotId") is { } problem)
        {
            return BadRequest(problem);
        }

        return await grains.GetGrain<ICompatProfileGrain>(robotId).Clear(user.ActingAs())
            ? TypedResults.NoContent()
            : NotFound($"robot '{robotId}' has no compatible-protocol profile");
    }

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
