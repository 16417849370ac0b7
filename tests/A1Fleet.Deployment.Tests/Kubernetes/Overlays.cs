using System.Text.Json.Nodes;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Kubernetes;

/// <summary>One overlay as `kubectl kustomize` builds it, with what the schema validation (k8s-validate/validate.mjs) said.</summary>
public sealed record BuiltOverlay(string Name, ToolResult Kustomize, ToolResult? Validation, IReadOnlyList<JsonObject> Objects)
{
    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => (string?)o["kind"] == kind);

    public JsonObject Single(string kind, string name) =>
        Objects.SingleOrDefault(o => (string?)o["kind"] == kind && (string?)o["metadata"]?["name"] == name)
        ?? throw new InvalidOperationException($"{Name}: no {kind} {name}");

    /// <summary>Deployments, StatefulSets and Jobs.</summary>
    public IEnumerable<JsonObject> Workloads => Objects.Where(o => (string?)o["kind"] is "Deployment" or "StatefulSet" or "Job");

    public IEnumerable<JsonObject> Silos => OfKind("Deployment").Where(d => Labels(PodTemplate(d))["a1fleet.io/role"] == "silo");

    public static JsonObject PodTemplate(JsonObject workload) => workload["spec"]!["template"]!.AsObject();

    public static JsonObject PodSpec(JsonObject workload) => PodTemplate(workload)["spec"]!.AsObject();

    public static IEnumerable<JsonObject> Containers(JsonObject workload) => PodSpec(workload)["containers"]!.AsArray().Select(c => c!.AsObject());

    public static Dictionary<string, string> Labels(JsonObject obj) =>
        (obj["metadata"]?["labels"]?.AsObject() ?? []).ToDictionary(kv => kv.Key, kv => (string)kv.Value!);

    public static IEnumerable<JsonObject> Env(JsonObject container) => (container["env"]?.AsArray() ?? []).Select(e => e!.AsObject());

    /// <summary>A container's value for an env var: its own env first, then the ConfigMaps of its envFrom.</summary>
    public string? EnvValue(JsonObject container, string name)
    {
        var own = Env(container).FirstOrDefault(e => (string?)e["name"] == name);
        if (own is not null)
        {
            return (string?)own["value"] ?? "(valueFrom)";
        }

        foreach (var source in container["envFrom"]?.AsArray() ?? [])
        {
            var configMap = (string?)source!["configMapRef"]?["name"];
            if (configMap is not null && Single("ConfigMap", configMap)["data"]?[name] is JsonValue value)
            {
                return (string)value!;
            }
        }

        return null;
    }

    /// <summary>True when every matchLabels pair (and matchExpressions In/Exists) of the selector holds for the labels.</summary>
    public static bool Matches(JsonNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector is null)
        {
            return false;
        }

        foreach (var (key, value) in selector["matchLabels"]?.AsObject() ?? [])
        {
            if (!labels.TryGetValue(key, out var actual) || actual != (string)value!)
            {
                return false;
            }
        }

        foreach (var expression in selector["matchExpressions"]?.AsArray() ?? [])
        {
            var key = (string)expression!["key"]!;
            var values = expression["values"]?.AsArray().Select(v => (string)v!).ToList() ?? [];
            var ok = (string)expression["operator"]! switch
            {
                "In" => labels.TryGetValue(key, out var v) && values.Contains(v),
                "NotIn" => !labels.TryGetValue(key, out var v) || !values.Contains(v),
                "Exists" => labels.ContainsKey(key),
                "DoesNotExist" => !labels.ContainsKey(key),
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Builds every overlay of deploy/k8s once per test run and validates it against the Kubernetes schemas.</summary>
public sealed class OverlaysFixture
{
    public static readonly string[] Names = ["cpu-demo", "gpu-production"];
    private static readonly string ValidatorDir = Path.Combine(Repo.Root, "tests", "A1Fleet.Deployment.Tests", "k8s-validate");
    private readonly Lazy<Dictionary<string, BuiltOverlay>> _built = new(BuildAll);

    public BuiltOverlay this[string name] => _built.Value[name];

    public static bool ToolsPresent => Tools.Find("kubectl") is not null && Tools.Find("node") is not null && Tools.Find("npm") is not null;

    /// <summary>`npm ci` once when k8s-validate has no node_modules (the npm registry is reachable where tests run).</summary>
    public static void EnsureValidatorInstalled()
    {
        if (Directory.Exists(Path.Combine(ValidatorDir, "node_modules", "kubernetes-models")) &&
            Directory.Exists(Path.Combine(ValidatorDir, "node_modules", "yaml")))
        {
            return;
        }

        var install = Tools.Run(Tools.Require("npm"), ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5), ValidatorDir);
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"npm ci in {ValidatorDir} failed:\n{install}");
        }
    }

    public static JsonArray YamlToJson(string yamlFile)
    {
        EnsureValidatorInstalled();
        var json = Path.GetTempFileName();
        try
        {
            var result = Tools.Run(Tools.Require("node"), [Path.Combine(ValidatorDir, "yaml2json.mjs"), yamlFile, json], TimeSpan.FromSeconds(60), ValidatorDir);
            if (result.ExitCode != 0)
            {
                throw new InvalidDataException($"{yamlFile}: {result}");
            }

            return JsonNode.Parse(File.ReadAllText(json))!.AsArray();
        }
        finally
        {
            File.Delete(json);
        }
    }

    private static Dictionary<string, BuiltOverlay> BuildAll()
    {
        EnsureValidatorInstalled();
        var built = new Dictionary<string, BuiltOverlay>();
        foreach (var name in Names)
        {
            var kustomize = Tools.Run(Tools.Require("kubectl"), ["kustomize", Repo.PathOf($"deploy/k8s/overlays/{name}")], TimeSpan.FromSeconds(60));
            if (kustomize.ExitCode != 0)
            {
                built[name] = new BuiltOverlay(name, kustomize, null, []);
                continue;
            }

            var yaml = Path.GetTempFileName();
            var json = Path.GetTempFileName();
            try
            {
                File.WriteAllText(yaml, kustomize.StdOut);
                var validation = Tools.Run(Tools.Require("node"), [Path.Combine(ValidatorDir, "validate.mjs"), yaml, json], TimeSpan.FromSeconds(120), ValidatorDir);
                var objects = File.Exists(json) && new FileInfo(json).Length > 0
                    ? JsonNode.Parse(File.ReadAllText(json))!.AsArray().Select(o => o!.AsObject()).ToList()
                    : [];
                built[name] = new BuiltOverlay(name, kustomize, validation, objects);
            }
            finally
            {
                File.Delete(yaml);
                File.Delete(json);
            }
        }

        return built;
    }
}

/// <summary>A [Theory] over the overlays, skipped with the reason when kubectl, node or npm is missing.</summary>
public sealed class OverlayTheoryAttribute : TheoryAttribute
{
    public OverlayTheoryAttribute()
    {
        if (!OverlaysFixture.ToolsPresent)
        {
            Skip = "kubectl, node or npm not installed and not installable here";
        }
    }
}

/// <summary>A [Fact] on the overlays, skipped with the reason when kubectl, node or npm is missing.</summary>
public sealed class OverlayFactAttribute : FactAttribute
{
    public OverlayFactAttribute()
    {
        if (!OverlaysFixture.ToolsPresent)
        {
            Skip = "kubectl, node or npm not installed and not installable here";
        }
    }
}
