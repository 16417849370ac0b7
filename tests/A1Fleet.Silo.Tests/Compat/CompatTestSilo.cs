using System.Text.Json;
using A1Fleet.Silo.Tests.RobotGateway;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.Operator.Client;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>
/// The gateway tests' one test silo (<see cref="GatewayTestSilo"/>) with the openpi and A1 endpoints on ports of their
/// own, and robots configured the way an operator does it: a credential and a profile through the operator API.
/// </summary>
public sealed class CompatTestSilo : IAsyncDisposable
{
    private CompatTestSilo(GatewayTestSilo gateway, int openPiPort, int a1Port, ModelSpec model)
    {
        Gateway = gateway;
        OpenPiPort = openPiPort;
        A1Port = a1Port;
        Model = model;
    }

    public GatewayTestSilo Gateway { get; }

    public int OpenPiPort { get; }

    public int A1Port { get; }

    /// <summary>tiny-fm, the model every test robot runs.</summary>
    public ModelSpec Model { get; }

    public IGrainFactory Grains => Gateway.Grains;

    public string OpenPiUrl => $"ws://127.0.0.1:{OpenPiPort}";

    /// <summary>The A1 endpoint's URL carrying a robot credential, as an A1 client's --url does.</summary>
    public string A1Url(string? robotId = null, string? key = null) =>
        key is null ? $"http://127.0.0.1:{A1Port}" : $"http://{robotId}:{Uri.EscapeDataString(key)}@127.0.0.1:{A1Port}";

    public static async Task<CompatTestSilo> StartAsync(params string[] settings)
    {
        var openPi = LoopbackSilo.FreePort();
        var a1 = LoopbackSilo.FreePort();
        var gateway = await GatewayTestSilo.StartAsync([
            "--A1Fleet:Compat:OpenPiPort", openPi.ToString(),
            "--A1Fleet:Compat:A1HttpPort", a1.ToString(),
            .. settings,
        ]);
        var model = await gateway.Grains.GetGrain<IModelGrain>("tiny-fm").GetSpec() ?? throw new InvalidOperationException("tiny-fm is not served");
        return new CompatTestSilo(gateway, openPi, a1, model);
    }

    /// <summary>A new robot with a credential, a profile from <paramref name="preset"/> and, when given, an assigned task.</summary>
    public async Task<(string RobotId, string Key)> RobotAsync(string preset, string? task = "pick up the cube", string instructionSource = "prompt", JsonElement? metadata = null,
        double? robotBudgetMinMs = null, double? robotBudgetMaxMs = null)
    {
        var robotId = GatewayTestSilo.NewRobotId();
        var key = await Gateway.Credentials.IssueAsync(robotId);
        using var http = Gateway.Silo.CreateClient(LoopbackSilo.AdminKey);
        await new OperatorClient(http).SetCompatProfile(robotId, new CompatProfileRequest(preset, "tiny-fm", InstructionSource: instructionSource, Metadata: metadata,
            RobotBudgetMinMs: robotBudgetMinMs, RobotBudgetMaxMs: robotBudgetMaxMs), CancellationToken.None);
        if (task is not null)
        {
            await Grains.GetGrain<IRobotGrain>(robotId).AssignTask(task, "test");
        }

        return (robotId, key);
    }

    /// <summary>The embodiment of every test robot (the operator API's default) and the compat profiles' default rate.</summary>
    public static EmbodimentProfile Arm { get; } = EmbodimentProfile.For(Embodiment.Franka);

    public const double ControlHz = 10;

    /// <summary>Action columns a client gets: joints tiny-fm drives and reports that a Franka has.</summary>
    public int Columns => Math.Min(Math.Min(Model.ActionDim, Model.StateDim), Arm.JointCount);

    /// <summary>The arm's data sheet as the Python clients check chunks against it (clients/arm.py).</summary>
    public static object ArmConfig { get; } = new
    {
        lower = Arm.Joints.Select(j => j.Lower).ToArray(),
        upper = Arm.Joints.Select(j => j.Upper).ToArray(),
        max_velocity = Arm.Joints.Select(j => j.MaxVelocity).ToArray(),
        max_acceleration = Arm.Joints.Select(j => j.MaxAcceleration).ToArray(),
        home = Arm.Joints.Select(j => j.Home).ToArray(),
        hz = ControlHz,
    };

    /// <summary>The openpi client's config for a layout on tiny-fm.</summary>
    public string OpenPiConfig(string layout, object? extra = null)
    {
        var config = new Dictionary<string, object?> { ["layout"] = layout, ["state_dim"] = Model.StateDim, ["chunk"] = Model.Chunk, ["action_dim"] = Columns, ["arm"] = ArmConfig };
        foreach (var property in extra?.GetType().GetProperties() ?? [])
        {
            config[property.Name] = property.GetValue(extra);
        }

        return JsonSerializer.Serialize(config);
    }

    /// <summary>The A1 client's config: images per request, proprio row width, chunk.</summary>
    public string A1Config(int cameras, int? proprio = null, object? extra = null)
    {
        var config = new Dictionary<string, object?> { ["cameras"] = cameras, ["proprio"] = proprio ?? Columns, ["chunk"] = Model.Chunk, ["arm"] = ArmConfig };
        foreach (var property in extra?.GetType().GetProperties() ?? [])
        {
            config[property.Name] = property.GetValue(extra);
        }

        return JsonSerializer.Serialize(config);
    }

    public ValueTask DisposeAsync() => Gateway.DisposeAsync();
}
