namespace A1Fleet.Grains;

/// <summary>
/// Which robots an operator command addresses: everything, one id, a tag, or an embodiment.
/// Text form (API/CLI): "all", "robot:ID", "tag:NAME", "embodiment:franka".
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.RobotSelector")]
public sealed record RobotSelector(
    [property: Id(0)] RobotSelectorKind Kind,
    [property: Id(1)] string Value)
{
    public static RobotSelector All { get; } = new(RobotSelectorKind.All, "");

    public static bool TryParse(string? text, out RobotSelector selector, out string? error)
    {
        selector = All;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "selector is empty: use all, robot:ID, tag:NAME or embodiment:KIND";
            return false;
        }

        if (text.Length > InputRules.MaxSelectorLength)
        {
            error = $"selector is {text.Length} characters long: at most {InputRules.MaxSelectorLength} are accepted";
            return false;
        }

        if (InputRules.UnsafeCharacter(text) is { } at)
        {
            error = $"selector contains a control character (U+{(int)text[at]:X4} at position {at})";
            return false;
        }

        text = text.Trim();
        if (text.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var kind = colon > 0 ? text[..colon].ToLowerInvariant() : "";
        var value = colon > 0 ? text[(colon + 1)..].Trim() : "";
        if (value.Length == 0)
        {
            error = $"selector '{text}' is not one of all, robot:ID, tag:NAME, embodiment:KIND";
            return false;
        }

        switch (kind)
        {
            case "robot":
                selector = new RobotSelector(RobotSelectorKind.Robot, value);
                return true;
            case "tag":
                selector = new RobotSelector(RobotSelectorKind.Tag, value);
                return true;
            case "embodiment":
                // Names only: Enum.TryParse also takes "0" or "1,2", which would select by the enum's numbering.
                if (!value.All(char.IsAsciiLetter) || !Enum.TryParse<Embodiment>(value, ignoreCase: true, out var e) || !Enum.IsDefined(e))
                {
                    error = $"embodiment '{value}' is unknown (franka, agibot, openarm, dobot)";
                    return false;
                }

                selector = new RobotSelector(RobotSelectorKind.Embodiment, e.ToString());
                return true;
            default:
                error = $"selector '{text}' is not one of all, robot:ID, tag:NAME, embodiment:KIND";
                return false;
        }
    }

    public override string ToString() => Kind switch
    {
        RobotSelectorKind.All => "all",
        RobotSelectorKind.Robot => $"robot:{Value}",
        RobotSelectorKind.Tag => $"tag:{Value}",
        _ => $"embodiment:{Value.ToLowerInvariant()}",
    };
}

public enum RobotSelectorKind
{
    All = 0,
    Robot = 1,
    Tag = 2,
    Embodiment = 3,
}

/// <summary>A fleet entry: enough to resolve selectors without calling every robot grain. Persisted:
/// collections are concrete arrays so any storage serializer can read them back.</summary>
[GenerateSerializer, Immutable, Alias("a1.RobotEntry")]
public sealed record RobotEntry(
    [property: Id(0)] string RobotId,
    [property: Id(1)] Embodiment Embodiment,
    [property: Id(2)] string[] Tags,
    [property: Id(3)] string ModelId)
{
    public bool SameAs(RobotEntry other) =>
        RobotId == other.RobotId && Embodiment == other.Embodiment && ModelId == other.ModelId && Tags.SequenceEqual(other.Tags);
}

/// <summary>A persisted operator assignment; replayed onto robots that register later.</summary>
[GenerateSerializer, Immutable, Alias("a1.Assignment")]
public sealed record Assignment(
    [property: Id(0)] long Id,
    [property: Id(1)] RobotSelector Selector,
    [property: Id(2)] string Instruction,
    [property: Id(3)] string AssignedBy,
    [property: Id(4)] DateTimeOffset At);

/// <summary>
/// The outcome of an operator command: which robots it reached. An assignment also says which standing
/// assignment it stored (<see cref="AssignmentId"/>), even when no robot matches yet.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.CommandResult")]
public sealed record CommandResult(
    [property: Id(0)] IReadOnlyList<string> Robots,
    [property: Id(1)] string? Error,
    [property: Id(2)] long? AssignmentId = null);

/// <summary>One robot's line in a <see cref="SafetyCommandReport"/>: its last answer and how many calls it took.</summary>
[GenerateSerializer, Immutable, Alias("a1.RobotSafetyResult")]
public sealed record RobotSafetyResult(
    [property: Id(0)] string RobotId,
    [property: Id(1)] bool Confirmed,
    [property: Id(2)] long Generation,
    [property: Id(3)] bool Persisted,
    [property: Id(4)] bool Pushed,
    [property: Id(5)] bool AgentOnline,
    [property: Id(6)] int Attempts,
    [property: Id(7)] string? Error,
    [property: Id(8)] DateTimeOffset? PersistedAt = null);

/// <summary>
/// The operator API's answer to an e-stop or resume (the body of both 200 and 503): every selected robot,
/// confirmed or not and why. Never partial without saying so: <see cref="AllConfirmed"/> is false whenever one
/// robot (or resolving the selector) was not confirmed, and <see cref="Error"/> then says how many and why.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.SafetyCommandReport")]
public sealed record SafetyCommandReport(
    [property: Id(0)] string Command,
    [property: Id(1)] string Selector,
    [property: Id(2)] bool AllConfirmed,
    [property: Id(3)] double DeadlineMs,
    [property: Id(4)] IReadOnlyList<RobotSafetyResult> Robots,
    [property: Id(5)] string? Error);

[GenerateSerializer, Immutable, Alias("a1.ThresholdVersionInfo")]
public sealed record ThresholdVersionInfo(
    [property: Id(0)] string Version,
    [property: Id(1)] string Name,
    [property: Id(2)] DateTimeOffset PublishedAt,
    [property: Id(3)] int SampleCount,
    [property: Id(4)] double ExpectedLayerFraction,
    [property: Id(5)] bool Live);

/// <param name="ServingSilos">The GPU silos serving the model now (<c>SiloAddress.ToParsableString()</c>); robots spread over them.</param>
[GenerateSerializer, Immutable, Alias("a1.ModelInfo")]
public sealed record ModelInfo(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string? LiveVersion,
    [property: Id(2)] IReadOnlyList<ThresholdVersionInfo> Versions,
    [property: Id(3)] double? FirstExitMs = null,
    [property: Id(4)] string[]? ServingSilos = null);

/// <summary>A threshold set on the wire: the JSON document of <c>A1Fleet.EarlyExit.ThresholdSet</c>, kept opaque so clients need no engine.</summary>
[GenerateSerializer, Immutable, Alias("a1.ThresholdDocument")]
public sealed record ThresholdDocument(
    [property: Id(0)] string Version,
    [property: Id(1)] string Name,
    [property: Id(2)] string Json,
    [property: Id(3)] DateTimeOffset PublishedAt);
