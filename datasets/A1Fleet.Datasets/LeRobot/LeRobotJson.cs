using System.Text.Encodings.Web;
using System.Text.Json;

namespace A1Fleet.Datasets.LeRobot;

/// <summary>JSON settings for LeRobot metadata: names come from attributes, so the options stay plain.</summary>
internal static class LeRobotJson
{
    public static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        // Task strings are user text; keep them readable rather than \u-escaped.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static readonly JsonSerializerOptions Line = new()
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Parses a JSON-lines file; problems name the file and the 1-based line.</summary>
    public static List<T> ReadLines<T>(string path, List<string> problems)
        where T : class
    {
        var items = new List<T>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                var item = JsonSerializer.Deserialize<T>(line, Line);
                if (item is null)
                {
                    problems.Add($"'{path}' line {lineNumber}: 'null' is not a {typeof(T).Name} record");
                }
                else
                {
                    items.Add(item);
                }
            }
            catch (JsonException ex)
            {
                problems.Add($"'{path}' line {lineNumber}: {ex.Message}");
            }
        }

        return items;
    }

    public static void WriteLines<T>(string path, IEnumerable<T> items)
    {
        using var writer = new StreamWriter(path, append: false);
        writer.NewLine = "\n";
        foreach (var item in items)
        {
            writer.WriteLine(JsonSerializer.Serialize(item, Line));
        }
    }
}
