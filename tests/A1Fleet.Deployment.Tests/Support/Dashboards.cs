using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace A1Fleet.Deployment.Tests.Support;

/// <summary>One query of a dashboard panel (a target's expr), with where it comes from.</summary>
public sealed record PanelQuery(string Dashboard, string Panel, string RefId, string Expr)
{
    public override string ToString() => $"{Dashboard} / {Panel} / {RefId}: {Expr}";
}

/// <summary>A Grafana variable query such as label_values(metric, label).</summary>
public sealed record VariableQuery(string Dashboard, string Variable, string Query);

/// <summary>The Grafana dashboards of dashboards/*.json.</summary>
public static partial class Dashboards
{
    public const string Folder = "dashboards";

    /// <summary>The Prometheus datasource uid that dashboards/provisioning provisions.</summary>
    public const string ProvisionedDatasourceUid = "a1fleet-prometheus";

    /// <summary>What Grafana's built-in variables stand for when the tests evaluate queries (1 s scrapes).</summary>
    public static readonly IReadOnlyDictionary<string, string> BuiltIns = new Dictionary<string, string>
    {
        ["__rate_interval"] = "15s",
        ["__interval"] = "5s",
        ["__range"] = "5m",
    };

    public static IReadOnlyList<string> Files() =>
        Directory.GetFiles(Repo.PathOf(Folder), "*.json").OrderBy(f => f, StringComparer.Ordinal).ToList();

    public static JsonObject Load(string file) =>
        JsonNode.Parse(File.ReadAllText(file))?.AsObject() ?? throw new InvalidDataException($"{file} is not a JSON object");

    /// <summary>Every panel, rows' nested panels included.</summary>
    public static IEnumerable<JsonObject> Panels(JsonObject dashboard)
    {
        foreach (var panel in dashboard["panels"]?.AsArray() ?? [])
        {
            var p = panel!.AsObject();
            yield return p;
            foreach (var nested in p["panels"]?.AsArray() ?? [])
            {
                yield return nested!.AsObject();
            }
        }
    }

    public static IEnumerable<PanelQuery> Queries(string file)
    {
        var dashboard = Load(file);
        var name = Path.GetFileName(file);
        foreach (var panel in Panels(dashboard))
        {
            foreach (var target in panel["targets"]?.AsArray() ?? [])
            {
                var t = target!.AsObject();
                yield return new PanelQuery(name, (string?)panel["title"] ?? "?", (string?)t["refId"] ?? "?", (string?)t["expr"] ?? "");
            }
        }
    }

    public static IEnumerable<VariableQuery> VariableQueries(string file)
    {
        var dashboard = Load(file);
        foreach (var variable in dashboard["templating"]?["list"]?.AsArray() ?? [])
        {
            var v = variable!.AsObject();
            if ((string?)v["type"] != "query")
            {
                continue;
            }

            var query = v["query"] is JsonObject q ? (string?)q["query"] : (string?)v["query"];
            yield return new VariableQuery(Path.GetFileName(file), (string?)v["name"] ?? "?", query ?? (string?)v["definition"] ?? "");
        }
    }

    /// <summary>
    /// The expression as Prometheus would receive it from Grafana with every variable at its default:
    /// multi-value variables at their "All" value (allValue), others at their current value.
    /// Throws naming the variable when one is neither a built-in nor defined by the dashboard.
    /// </summary>
    public static string Substitute(string file, string expr)
    {
        var values = new Dictionary<string, string>(BuiltIns);
        foreach (var variable in Load(file)["templating"]?["list"]?.AsArray() ?? [])
        {
            var v = variable!.AsObject();
            var name = (string?)v["name"] ?? "";
            if ((bool?)v["includeAll"] == true && v["allValue"] is not null)
            {
                values[name] = (string)v["allValue"]!;
            }
            else if (v["current"]?["value"] is JsonValue current)
            {
                values[name] = (string)current!;
            }
        }

        return VariableReference().Replace(expr, m =>
        {
            var name = m.Groups["a"].Success ? m.Groups["a"].Value : m.Groups["b"].Success ? m.Groups["b"].Value : m.Groups["c"].Value;
            return values.TryGetValue(name, out var value)
                ? value
                : throw new InvalidDataException($"{Path.GetFileName(file)}: variable ${name} in '{expr}' is neither a Grafana built-in nor a variable of the dashboard");
        });
    }

    [GeneratedRegex(@"\$\{(?<a>\w+)(?::\w+)?\}|\[\[(?<b>\w+)\]\]|\$(?<c>\w+)")]
    private static partial Regex VariableReference();

    /// <summary>label_values(metric, label) -> (metric, label); null for other variable queries.</summary>
    public static (string Metric, string Label)? ParseLabelValues(string query)
    {
        var m = LabelValues().Match(query);
        return m.Success ? (m.Groups["metric"].Value, m.Groups["label"].Value) : null;
    }

    [GeneratedRegex(@"^\s*label_values\(\s*(?<metric>[A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*(?<label>\w+)\s*\)\s*$")]
    private static partial Regex LabelValues();
}
