using System.Text.Encodings.Web;
using System.Text.Json;

namespace A1Fleet.ModelBuilder.Config;

/// <summary>The one JSON convention of the builder's outputs: camelCase, indented (model.json, samples.json, configs).</summary>
public static class ReferenceModelJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // Files, not HTML: keep "<pad>" readable instead of "\u003Cpad\u003E".
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static ReferenceModelConfig LoadConfig(string path)
    {
        var config = JsonSerializer.Deserialize<ReferenceModelConfig>(File.ReadAllText(path), Options)
            ?? throw new InvalidDataException($"{path} holds no config.");
        config.Validate();
        return config;
    }
}
