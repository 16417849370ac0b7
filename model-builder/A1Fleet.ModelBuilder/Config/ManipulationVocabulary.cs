namespace A1Fleet.ModelBuilder.Config;

/// <summary>
/// The word vocabulary shared by all presets: id 0 is padding and id 1 the unknown word (the
/// manifest's PadId/UnknownId), then manipulation words that the sample instructions are built from.
/// </summary>
public static class ManipulationVocabulary
{
    public const string Pad = "<pad>";
    public const string Unknown = "<unk>";

    public static IReadOnlyList<string> Words { get; } =
    [
        Pad, Unknown,
        "pick", "up", "place", "put", "move", "push", "pull", "lift", "grasp", "release",
        "open", "close", "stack", "slide", "turn", "on", "off",
        "the", "a", "it", "and", "then", "in", "into", "onto", "of", "to", "from", "next", "near",
        "top", "left", "right", "front", "back", "middle",
        "red", "green", "blue", "yellow", "orange", "purple", "white", "black",
        "small", "large",
        "block", "cube", "cup", "mug", "bowl", "plate", "coaster", "drawer", "cabinet", "door",
        "knob", "stove", "bottle", "box", "basket", "table", "towel",
    ];
}
