using System.Globalization;
using System.Text.RegularExpressions;

namespace A1Fleet.Datasets.LeRobot;

/// <summary>
/// The subset of Python's str.format that LeRobot path templates use: <c>{name}</c> and
/// <c>{name:03d}</c> (zero-padded integers).
/// </summary>
public static partial class PathTemplate
{
    public static string Format(string template, IReadOnlyDictionary<string, object> values)
    {
        return Placeholder().Replace(template, match =>
        {
            var name = match.Groups["name"].Value;
            if (!values.TryGetValue(name, out var value))
            {
                throw new FormatException($"path template '{template}' uses '{{{name}}}', which is not one of: {string.Join(", ", values.Keys)}");
            }

            var width = match.Groups["width"].Success ? int.Parse(match.Groups["width"].Value, CultureInfo.InvariantCulture) : 0;
            return value is int number && width > 0
                ? number.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0')
                : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
        });
    }

    [GeneratedRegex(@"\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?::0?(?<width>\d+)d)?\}")]
    private static partial Regex Placeholder();
}
