namespace A1Fleet.CalibrationJobs.Cli;

/// <summary>
/// "--name value" and "--flag" arguments, with every problem collected (unknown option, missing
/// value, repeated option, stray word) rather than stopping at the first.
/// </summary>
internal sealed class ParsedArguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Errors { get; } = [];

    public static ParsedArguments Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flagOptions)
    {
        var parsed = new ParsedArguments();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                parsed.Errors.Add($"unexpected argument '{arg}': options are written --name value");
                continue;
            }

            var name = arg[2..];
            if (flagOptions.Contains(name))
            {
                parsed._flags.Add(name);
            }
            else if (valueOptions.Contains(name))
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    parsed.Errors.Add($"{arg} needs a value");
                    continue;
                }

                if (!parsed._values.TryAdd(name, args[++i]))
                {
                    parsed.Errors.Add($"{arg} is given more than once");
                }
            }
            else
            {
                parsed.Errors.Add($"unknown option {arg} (options: {string.Join(", ", valueOptions.Concat(flagOptions).Select(o => "--" + o))})");
                // Its value, if any, would otherwise be reported a second time as a stray word.
                if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    i++;
                }
            }
        }

        return parsed;
    }

    public string? Value(string name) => _values.GetValueOrDefault(name);

    public bool Flag(string name) => _flags.Contains(name);

    public string? Required(string name)
    {
        var value = Value(name);
        if (value is null)
        {
            Errors.Add($"--{name} is required");
        }

        return value;
    }

    /// <summary>Parses a value with <paramref name="parse"/>; a failure adds "--name: message" and gives the fallback.</summary>
    public T Parsed<T>(string name, T fallback, Func<string, (T Value, string? Error)> parse)
    {
        if (Value(name) is not { } text)
        {
            return fallback;
        }

        var (value, error) = parse(text);
        if (error is not null)
        {
            Errors.Add($"--{name} {text}: {error}");
            return fallback;
        }

        return value;
    }
}
