namespace A1Fleet.ModelBuilder.Cli;

/// <summary>"--name value" pairs; anything else is an error, so typos do not pass silently.</summary>
internal sealed class CliOptions
{
    private static readonly HashSet<string> Known = ["preset", "config", "out", "seed", "package", "thresholds"];
    private readonly Dictionary<string, string> values;

    private CliOptions(Dictionary<string, string> values) => this.values = values;

    public static CliOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : "";
            if (!Known.Contains(name) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"unexpected argument '{args[i]}' (options: --{string.Join(", --", Known)}, each with a value)");
            }

            values[name] = args[i + 1];
        }

        return new CliOptions(values);
    }

    public string? Optional(string name) => values.GetValueOrDefault(name);

    public string Required(string name) => Optional(name) ?? throw new ArgumentException($"--{name} is required");
}
