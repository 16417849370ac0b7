using System.Text.RegularExpressions;

namespace A1Fleet.Deployment.Tests.Support;

/// <summary>Just enough PromQL reading to list the metric names an expression selects.</summary>
public static partial class PromQl
{
    private static readonly HashSet<string> Keywords =
    [
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan", "atan2",
    ];

    /// <summary>Metric names selected by <paramref name="expr"/> (identifiers that are not functions, keywords, labels or durations).</summary>
    public static IReadOnlySet<string> MetricNames(string expr)
    {
        var text = StringLiteral().Replace(expr, "\"\"");
        text = LabelMatchers().Replace(text, "{}");
        text = Grouping().Replace(text, " ");
        text = RangeOrSubquery().Replace(text, " ");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in Identifier().Matches(text))
        {
            var name = m.Groups["name"].Value;
            if (Keywords.Contains(name.ToLowerInvariant()) || m.Groups["call"].Success)
            {
                continue;
            }

            names.Add(name);
        }

        return names;
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex LabelMatchers();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", RegexOptions.IgnoreCase)]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\[[^\]]*\]|\boffset\s+-?[0-9a-z]+", RegexOptions.IgnoreCase)]
    private static partial Regex RangeOrSubquery();

    [GeneratedRegex(@"(?<![0-9A-Za-z_:.])(?<name>[A-Za-z_:][A-Za-z0-9_:]*)(?<call>\s*\()?")]
    private static partial Regex Identifier();
}
