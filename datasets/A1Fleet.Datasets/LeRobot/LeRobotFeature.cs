using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace A1Fleet.Datasets.LeRobot;

/// <summary>One entry of <c>info.json</c>'s "features": how a column is typed and shaped.</summary>
public sealed class LeRobotFeature
{
    /// <summary>"float32", "float64", "int64", "bool", "string", "image" or "video".</summary>
    [JsonPropertyName("dtype")]
    public string Dtype { get; set; } = "";

    /// <summary>[n] for vectors, [height, width, channels] for cameras, [1] for scalars.</summary>
    [JsonPropertyName("shape")]
    public int[] Shape { get; set; } = [];

    /// <summary>Free-form: a list of names, a dict of lists ({"motors": [...]}) or null. Kept as written.</summary>
    [JsonPropertyName("names")]
    public JsonNode? Names { get; set; }

    /// <summary>Other fields (video_info, info) preserved so a rewrite loses nothing.</summary>
    [JsonExtensionData]
    public Dictionary<string, object?>? Extra { get; set; }

    [JsonIgnore]
    public bool IsCamera => Dtype is FeatureKeys.ImageDtype or FeatureKeys.VideoDtype;

    [JsonIgnore]
    public bool IsVideo => Dtype == FeatureKeys.VideoDtype;

    [JsonIgnore]
    public bool IsFloat => Dtype is "float32" or "float64";

    /// <summary>Element count of a vector feature (product of the shape), 0 for an empty shape.</summary>
    [JsonIgnore]
    public int VectorLength => Shape.Length == 0 ? 0 : Shape.Aggregate(1, (a, b) => a * b);

    public override string ToString() => $"{Dtype}[{string.Join(", ", Shape)}]";
}
