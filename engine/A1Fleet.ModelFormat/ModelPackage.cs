using System.Text.Json;
using System.Text.Json.Serialization;

namespace A1Fleet.ModelFormat;

/// <summary>
/// A model package on disk: a directory holding <c>model.json</c> and the ONNX graphs it names.
/// Opening one checks everything that can be checked without a runtime (manifest consistency,
/// files present); the engine checks the graphs' shapes against the manifest when it loads them.
/// </summary>
public sealed class ModelPackage
{
    public const string ManifestFileName = "model.json";

    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private ModelPackage(string directory, ModelManifest manifest)
    {
        Directory = directory;
        Manifest = manifest;
    }

    public string Directory { get; }
    public ModelManifest Manifest { get; }

    /// <summary>Exit layers as the manifest states them (0-based LM layers).</summary>
    public IReadOnlyList<int> ExitLayers => Manifest.Exits.Layers;

    public string PathOf(string relative) => Path.GetFullPath(Path.Combine(Directory, relative));

    public static ModelPackage Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelPackageException($"model package directory '{directory}' does not exist");
        }

        var manifestPath = Path.Combine(directory, ManifestFileName);
        if (!File.Exists(manifestPath))
        {
            throw new ModelPackageException($"'{manifestPath}' is missing: a model package needs a {ManifestFileName} manifest");
        }

        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(manifestPath), JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ModelPackageException($"'{manifestPath}' is not a valid manifest: {ex.Message}", ex);
        }

        if (manifest is null)
        {
            throw new ModelPackageException($"'{manifestPath}' is empty");
        }

        var errors = ManifestValidator.Validate(manifest);
        if (errors.Count > 0)
        {
            throw new ModelPackageException($"'{manifestPath}' is inconsistent:\n  - " + string.Join("\n  - ", errors));
        }

        var package = new ModelPackage(Path.GetFullPath(directory), manifest);
        var missing = package.AllGraphFiles().Where(f => !File.Exists(package.PathOf(f))).ToList();
        if (manifest.SampleData is { } samples && !File.Exists(package.PathOf(samples)))
        {
            missing.Add(samples);
        }

        missing.AddRange(manifest.ThresholdSets.Where(t => !File.Exists(package.PathOf(t))));
        if (missing.Count > 0)
        {
            throw new ModelPackageException($"model package '{directory}' lacks files named in {ManifestFileName}: {string.Join(", ", missing)}");
        }

        return package;
    }

    public IEnumerable<string> AllGraphFiles()
    {
        var files = Manifest.Files;
        yield return files.Prefix;
        foreach (var stage in files.PrefixStages)
        {
            yield return stage;
        }

        foreach (var layer in files.LanguageModelLayers)
        {
            yield return layer;
        }

        if (files.MlpHead is { } head)
        {
            yield return head;
        }

        if (files.ExpertSuffix is { } suffix)
        {
            yield return suffix;
        }

        foreach (var layer in files.ExpertLayers)
        {
            yield return layer;
        }

        if (files.ExpertOutput is { } output)
        {
            yield return output;
        }
    }

    public IReadOnlyList<ObservationSample> LoadSamples()
    {
        if (Manifest.SampleData is null)
        {
            throw new ModelPackageException($"model '{Manifest.ModelId}' ships no sample data");
        }

        var path = PathOf(Manifest.SampleData);
        try
        {
            return JsonSerializer.Deserialize<List<ObservationSample>>(File.ReadAllText(path), JsonOptions)
                ?? throw new ModelPackageException($"'{path}' holds no samples");
        }
        catch (JsonException ex)
        {
            throw new ModelPackageException($"'{path}' is not a valid sample file: {ex.Message}", ex);
        }
    }

    /// <summary>The standard exit schedule: 1, 1+k, 1+2k, ... below the last layer, plus the last layer.</summary>
    public static List<int> StandardExitLayers(int layers, int interval)
    {
        var exits = new List<int>();
        for (var l = 1; l < layers - 1; l += interval)
        {
            exits.Add(l);
        }

        exits.Add(layers - 1);
        return exits;
    }
}

public sealed class ModelPackageException : Exception
{
    public ModelPackageException(string message) : base(message) { }
    public ModelPackageException(string message, Exception inner) : base(message, inner) { }
}
