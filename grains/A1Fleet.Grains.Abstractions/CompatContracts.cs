using System.Text.Json;

namespace A1Fleet.Grains;

/// <summary>The field protocols a robot may speak instead of the robot gateway's own (docs/compatible-protocols.md).</summary>
public enum CompatProtocol
{
    /// <summary>openpi's WebsocketPolicyServer protocol: WebSocket, msgpack with msgpack_numpy arrays.</summary>
    OpenPi = 0,

    /// <summary>A1's deploy/api_server.py: HTTP/JSON, base64 image files in camera order.</summary>
    A1Http = 1,
}

/// <summary>Which instruction a compatible client's request runs under.</summary>
public enum InstructionSource
{
    /// <summary>The client's prompt (openpi <c>prompt</c>, A1 <c>instruction</c>); the assigned task when it sends none.</summary>
    Prompt = 0,

    /// <summary>The operator's assigned task only; the client's prompt is ignored, and without a task the robot holds.</summary>
    AssignedTask = 1,
}

/// <summary>
/// How a robot that speaks a field protocol maps onto its model, configured by an operator per robot and persisted.
/// <para><see cref="Cameras"/> has one entry per model camera, in model order: for openpi the observation key of that
/// camera's image (a flat key such as <c>observation/image</c>, or a path into nested maps such as
/// <c>images/cam_high</c>); for A1 the name of the position in <see cref="CameraOrder"/> the image comes from.
/// <see cref="StateKeys"/> (openpi) are concatenated in order into the state; A1's state is its <c>proprio_data</c> row.
/// <see cref="MetadataJson"/> (openpi) is the JSON object sent, as msgpack, in the metadata frame.</para>
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.CompatProfile")]
public sealed record CompatProfile(
    [property: Id(0)] CompatProtocol Protocol,
    [property: Id(1)] string Layout,
    [property: Id(2)] string ModelId,
    [property: Id(3)] Embodiment Embodiment,
    [property: Id(4)] IReadOnlyList<string> Cameras,
    [property: Id(5)] IReadOnlyList<string> CameraOrder,
    [property: Id(6)] IReadOnlyList<string> StateKeys,
    [property: Id(7)] InstructionSource InstructionSource,
    [property: Id(8)] string MetadataJson,
    [property: Id(9)] double ControlHz,
    [property: Id(10)] string UpdatedBy = "",
    [property: Id(11)] DateTimeOffset UpdatedAt = default,
    [property: Id(12)] double? RobotBudgetMinMs = null,
    [property: Id(13)] double? RobotBudgetMaxMs = null)
{
    /// <summary>Whether the robot may set its own latency budget (within [<see cref="RobotBudgetMinMs"/>, <see cref="RobotBudgetMaxMs"/>]).</summary>
    public bool RobotMaySetBudget => RobotBudgetMinMs is not null && RobotBudgetMaxMs is not null;

    /// <summary>Longest <see cref="MetadataJson"/> in characters: a handful of poses and names.</summary>
    public const int MaxMetadataChars = 4096;

    /// <summary>Most entries of <see cref="Cameras"/>, <see cref="CameraOrder"/> or <see cref="StateKeys"/>.</summary>
    public const int MaxKeys = 16;

    /// <summary>Longest observation key or camera name.</summary>
    public const int MaxKeyLength = 128;

    /// <summary>The first problem (naming the field), or null. Model fit (camera count) is checked once the model is known.</summary>
    public string? Validate()
    {
        if (!Enum.IsDefined(Protocol))
        {
            return $"protocol {(int)Protocol} is not a protocol this fleet speaks (openpi, a1-http)";
        }

        if (InputRules.Name(ModelId, "modelId") is { } model)
        {
            return model;
        }

        if (!Enum.IsDefined(Embodiment))
        {
            return $"embodiment {(int)Embodiment} is not an embodiment this fleet knows";
        }

        if (!Enum.IsDefined(InstructionSource))
        {
            return $"instructionSource {(int)InstructionSource} is not prompt or task";
        }

        if (!double.IsFinite(ControlHz) || ControlHz is <= 0 or > 1000)
        {
            return $"controlHz {ControlHz} must be within (0, 1000]";
        }

        var a1 = Protocol == CompatProtocol.A1Http;
        if ((Keys(Cameras, "cameras", required: true) ?? Keys(CameraOrder, "cameraOrder", required: a1) ?? Keys(StateKeys, "stateKeys", required: !a1)) is { } keys)
        {
            return keys;
        }

        if (Protocol == CompatProtocol.A1Http && Cameras.FirstOrDefault(c => !CameraOrder.Contains(c, StringComparer.Ordinal)) is { } unknown)
        {
            return $"cameras: '{Printable.Escape(unknown)}' is not a name in cameraOrder ({string.Join(", ", CameraOrder)})";
        }

        if ((RobotBudgetMinMs is null) != (RobotBudgetMaxMs is null))
        {
            return "robotBudgetMinMs and robotBudgetMaxMs go together: give both (the range a robot may set its own budget in) or neither";
        }

        if (RobotBudgetMinMs is { } min && RobotBudgetMaxMs is { } max
            && (InputRules.LatencyBudget(min, field: "robotBudgetMinMs") ?? InputRules.LatencyBudget(max, field: "robotBudgetMaxMs")
                ?? (min > max ? $"robotBudgetMinMs {min} is above robotBudgetMaxMs {max}" : null)) is { } bounds)
        {
            return bounds;
        }

        if (MetadataJson.Length > MaxMetadataChars)
        {
            return $"metadata is {MetadataJson.Length} characters long: at most {MaxMetadataChars} are accepted";
        }

        try
        {
            using var document = JsonDocument.Parse(MetadataJson);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return "metadata must be a JSON object (openpi clients read it as a dict)";
            }
        }
        catch (JsonException ex)
        {
            return $"metadata is not JSON: {ex.Message}";
        }

        return null;
    }

    private static string? Keys(IReadOnlyList<string>? keys, string field, bool required)
    {
        if (keys is null || keys.Count == 0)
        {
            return required ? $"{field} is empty" : null;
        }

        if (keys.Count > MaxKeys)
        {
            return $"{field} has {keys.Count} entries: at most {MaxKeys} are accepted";
        }

        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength || InputRules.UnsafeCharacter(key) is not null)
            {
                return $"{field}[{i}] must be 1..{MaxKeyLength} printable characters";
            }
        }

        return null;
    }
}

/// <summary>
/// The layouts robot labs already use, as profiles an operator starts from (<c>a1ctl compat set ROBOT --preset NAME</c>):
/// openpi's LIBERO, DROID and ALOHA observation dicts, and A1's camera orders (ALOHA, ARX5, Franka, LIBERO). A preset
/// fills the keys; the operator names the model, and the model's cameras take the preset's sources in order.
/// </summary>
public static class CompatPresets
{
    public sealed record Preset(string Name, CompatProtocol Protocol, string[] Cameras, string[] CameraOrder, string[] StateKeys, string MetadataJson, string Description);

    public static IReadOnlyList<Preset> All { get; } =
    [
        new("openpi-libero", CompatProtocol.OpenPi, ["observation/image", "observation/wrist_image"], [], ["observation/state"], "{}",
            "openpi examples/libero: agentview + wrist images (HWC), observation/state"),
        new("openpi-droid", CompatProtocol.OpenPi, ["observation/exterior_image_1_left", "observation/wrist_image_left"], [],
            ["observation/joint_position", "observation/gripper_position"], "{}",
            "openpi examples/droid: exterior + wrist images (HWC), joint_position + gripper_position"),
        new("openpi-aloha", CompatProtocol.OpenPi, ["images/cam_high", "images/cam_left_wrist", "images/cam_right_wrist"], [], ["state"],
            """{"reset_pose":[0,-1.5,1.5,0,0,0]}""",
            "openpi examples/aloha_real: images/{cam_high, cam_left_wrist, cam_right_wrist} (CHW), state; metadata reset_pose"),
        new("a1-aloha", CompatProtocol.A1Http, ["high", "left_hand", "right_hand"], ["high", "left_hand", "right_hand"], [], "{}",
            "A1 RoboChallenge ALOHA: images [high, left_hand, right_hand]"),
        new("a1-arx5", CompatProtocol.A1Http, ["high", "right_hand", "left_hand"], ["right_hand", "left_hand", "high"], [], "{}",
            "A1 RoboChallenge ARX5: images [right_hand, left_hand, high]"),
        new("a1-franka", CompatProtocol.A1Http, ["high", "right_hand", "left_hand"], ["right_hand", "left_hand", "high"], [], "{}",
            "A1 RoboChallenge Franka: images [right_hand, left_hand, high]"),
        new("a1-libero", CompatProtocol.A1Http, ["agentview", "wrist"], ["agentview", "wrist"], [], "{}",
            "A1 LIBERO client: images [agentview, wrist]"),
    ];

    public static Preset? Find(string? name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The preset as a profile for a model with <paramref name="modelCameras"/> cameras: the first that many sources
    /// (a two-camera model on an ALOHA layout takes the high and left-wrist images).
    /// </summary>
    public static CompatProfile ToProfile(Preset preset, string modelId, Embodiment embodiment, int modelCameras, InstructionSource instructionSource, double controlHz, string? metadataJson = null) =>
        new(preset.Protocol, preset.Name, modelId, embodiment, [.. preset.Cameras.Take(Math.Max(1, modelCameras))], preset.CameraOrder, preset.StateKeys,
            instructionSource, metadataJson ?? preset.MetadataJson, controlHz);
}

/// <summary>What a robot's agent id says about how it is driven: the protocol a compatible session binds under.</summary>
public static class AgentProtocols
{
    public const string OpenPiPrefix = "openpi:";
    public const string A1HttpPrefix = "a1-http:";

    /// <summary>The agent id a compatible session binds with: the protocol, then the connection.</summary>
    public static string AgentId(CompatProtocol protocol, string connection) => (protocol == CompatProtocol.OpenPi ? OpenPiPrefix : A1HttpPrefix) + connection;

    /// <summary>"openpi", "a1-http", "gateway" for any other bound agent, "-" when none holds the robot.</summary>
    public static string Of(string? agentId) => agentId switch
    {
        null => "-",
        _ when agentId.StartsWith(OpenPiPrefix, StringComparison.Ordinal) => "openpi",
        _ when agentId.StartsWith(A1HttpPrefix, StringComparison.Ordinal) => "a1-http",
        _ => "gateway",
    };

    public static string Name(CompatProtocol protocol) => protocol == CompatProtocol.OpenPi ? "openpi" : "a1-http";

    public static CompatProtocol? Parse(string? text) => text?.ToLowerInvariant() switch
    {
        "openpi" => CompatProtocol.OpenPi,
        "a1-http" or "a1" => CompatProtocol.A1Http,
        _ => null,
    };
}

/// <summary>Per robot (key = robot id), persisted: the robot's compatible-protocol profile, set by operators.</summary>
[Alias("a1.ICompatProfileGrain")]
public interface ICompatProfileGrain : IGrainWithStringKey
{
    [Alias("Get")]
    Task<CompatProfile?> Get();

    /// <summary>Validates (<see cref="CompatProfile.Validate"/>) and stores; throws <see cref="ArgumentException"/> naming the field.</summary>
    [Alias("Set")]
    Task<CompatProfile> Set(CompatProfile profile, string by);

    /// <summary>False when the robot had no profile.</summary>
    [Alias("Clear")]
    Task<bool> Clear(string by);
}

/// <summary>
/// The operator API's body for setting a robot's profile (PUT /api/robots/{robotId}/compat): a preset, overridden by
/// whatever else is given. <see cref="Metadata"/> is a JSON object (openpi's metadata frame).
/// </summary>
public sealed record CompatProfileRequest(
    string? Preset,
    string? ModelId,
    string? Protocol = null,
    string? Embodiment = null,
    string[]? Cameras = null,
    string[]? CameraOrder = null,
    string[]? StateKeys = null,
    string? InstructionSource = null,
    JsonElement? Metadata = null,
    double? ControlHz = null,
    double? RobotBudgetMinMs = null,
    double? RobotBudgetMaxMs = null);

/// <summary>A robot's profile as the operator API shows it (enums by name).</summary>
public sealed record CompatProfileView(
    string RobotId,
    string Protocol,
    string Layout,
    string ModelId,
    string Embodiment,
    IReadOnlyList<string> Cameras,
    IReadOnlyList<string> CameraOrder,
    IReadOnlyList<string> StateKeys,
    string InstructionSource,
    JsonElement Metadata,
    double ControlHz,
    string UpdatedBy,
    DateTimeOffset UpdatedAt,
    double? RobotBudgetMinMs = null,
    double? RobotBudgetMaxMs = null)
{
    public static CompatProfileView Of(string robotId, CompatProfile p)
    {
        using var metadata = JsonDocument.Parse(p.MetadataJson);
        return new(robotId, AgentProtocols.Name(p.Protocol), p.Layout, p.ModelId, p.Embodiment.ToString().ToLowerInvariant(), p.Cameras, p.CameraOrder, p.StateKeys,
            p.InstructionSource == Grains.InstructionSource.Prompt ? "prompt" : "task", metadata.RootElement.Clone(), p.ControlHz, p.UpdatedBy, p.UpdatedAt,
            p.RobotBudgetMinMs, p.RobotBudgetMaxMs);
    }
}

/// <summary>A shipped preset as the operator API lists it.</summary>
public sealed record CompatPresetView(string Name, string Protocol, IReadOnlyList<string> Cameras, IReadOnlyList<string> CameraOrder, IReadOnlyList<string> StateKeys, string Description);
