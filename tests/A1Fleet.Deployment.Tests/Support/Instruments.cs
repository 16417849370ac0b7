using System.Text.RegularExpressions;

namespace A1Fleet.Deployment.Tests.Support;

/// <summary>An instrument declared in the sources (meter.CreateCounter("a1fleet.x", "unit", ...)), and the
/// Prometheus names OpenTelemetry's Prometheus exporter gives it.</summary>
public sealed record Instrument(string Name, string Kind, string Unit, string File)
{
    /// <summary>Counters have no series until their first increment: a fleet with no errors exports no errors counter.</summary>
    public bool IsEventCounter => Kind is "Counter" or "ObservableCounter";

    public bool IsHistogram => Kind == "Histogram";

    /// <summary>The exporter's base name: dots to underscores, the unit appended (annotations in braces dropped,
    /// "1" dropped, ms/s/By spelled out), "_total" for monotonic counters.</summary>
    public string PrometheusBase
    {
        get
        {
            var name = Regex.Replace(Name, "[^A-Za-z0-9_:]", "_");
            var unit = PrometheusUnit(Unit);
            if (unit.Length > 0 && !name.EndsWith("_" + unit, StringComparison.Ordinal))
            {
                name += "_" + unit;
            }

            if (IsEventCounter && !name.EndsWith("_total", StringComparison.Ordinal))
            {
                name += "_total";
            }

            return name;
        }
    }

    /// <summary>The series names a scrape shows: the base, or its _bucket/_sum/_count for histograms.</summary>
    public IReadOnlyList<string> PrometheusNames => IsHistogram
        ? [PrometheusBase + "_bucket", PrometheusBase + "_sum", PrometheusBase + "_count"]
        : [PrometheusBase];

    private static string PrometheusUnit(string unit)
    {
        var stripped = Regex.Replace(unit, @"\{[^}]*\}", "").Trim();
        if (stripped.Split('/') is [var numerator, { Length: > 0 } denominator])
        {
            // As the OpenTelemetry Prometheus exporter writes rates: rad/s -> rad_per_second, rad/s2 -> rad_per_s2.
            var per = "per_" + (denominator switch
            {
                "s" => "second",
                "m" => "minute",
                "h" => "hour",
                "d" => "day",
                _ => Regex.Replace(denominator, "[^A-Za-z0-9_]", "_"),
            });
            var first = PrometheusUnit(numerator);
            return first.Length == 0 ? per : first + "_" + per;
        }

        return stripped switch
        {
            "" or "1" => "",
            "ms" => "milliseconds",
            "s" => "seconds",
            "By" => "bytes",
            "%" => "percent",
            _ => Regex.Replace(stripped, "[^A-Za-z0-9_]", "_"),
        };
    }
}

/// <summary>Finds the A1Fleet instruments declared in the source folders (tests, bin and obj excluded).</summary>
public static partial class Instruments
{
    private static readonly string[] SourceFolders = ["grains", "robot-agent", "silo", "calibration-jobs", "calibration", "datasets", "engine"];

    public static IReadOnlyList<Instrument> Declared()
    {
        var found = new List<Instrument>();
        foreach (var folder in SourceFolders.Select(Repo.PathOf).Where(Directory.Exists))
        {
            foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(Repo.Root, file);
                if (relative.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ||
                    relative.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (Match m in Declaration().Matches(File.ReadAllText(file)))
                {
                    found.Add(new Instrument(m.Groups["name"].Value, m.Groups["kind"].Value, m.Groups["unit"].Value, relative));
                }
            }
        }

        return found;
    }

    // Create{Kind}[<T>]("a1fleet.x", ["unit" | callback, "unit"] ...): the unit is the first string literal after the name.
    [GeneratedRegex(@"\bCreate(?<kind>Counter|Histogram|UpDownCounter|Gauge|ObservableGauge|ObservableCounter|ObservableUpDownCounter)\s*(?:<[^>]+>)?\s*\(\s*""(?<name>a1fleet\.[A-Za-z0-9_.]+)""\s*,\s*(?:[^"",]+,\s*)?""(?<unit>[^""]*)""")]
    private static partial Regex Declaration();
}
