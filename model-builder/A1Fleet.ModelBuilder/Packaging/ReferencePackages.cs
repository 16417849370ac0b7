using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Calibration;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Packaging;

/// <summary>
/// The reference models as the demo, benchmarks and tests use them: built on first use (or when the
/// builder's output for the preset changes), with exit thresholds calibrated on the package's own
/// calibration episodes and shipped in it. The last quarter of the episodes is held out.
/// </summary>
public static class ReferencePackages
{
    /// <summary>The paper's exp sweep, the sets every reference package ships.</summary>
    public static IReadOnlyList<double> ShippedRs => CalibrationRules.PaperRs;
    private const double CalibrationShare = 0.75;

    public static string Ensure(string preset, string modelsRoot, TextWriter? log = null)
    {
        var config = ReferenceModelPresets.Get(preset);
        var directory = Path.GetFullPath(Path.Combine(modelsRoot, preset));
        if (IsCurrent(directory, config))
        {
            return directory;
        }

        log?.WriteLine($"building reference model '{preset}' into {directory} ...");
        var started = DateTime.UtcNow;
        var staging = $"{directory}.staging-{Environment.ProcessId}";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        ReferenceModelBuilder.Build(config, staging);
        CalibrateShippedThresholds(staging);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.Move(staging, directory);
        log?.WriteLine($"built '{preset}' in {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        return directory;
    }

    /// <summary>
    /// Calibrates exp-family thresholds for the model's default decoding and adds them to the package. The manifest
    /// is written last, so a cancelled calibration leaves the package's manifest as it was.
    /// </summary>
    /// <param name="forbidFirstExit">p_1 = 0 in every set (recorded in each set's file).</param>
    public static void CalibrateShippedThresholds(string packageDirectory, bool forbidFirstExit = false, CancellationToken cancellationToken = default)
    {
        var manifest = ModelPackage.Open(packageDirectory).Manifest;
        var names = new List<string>();
        using (var engine = A1Engine.Load(packageDirectory, new EngineOptions { MaxBatchSize = 16 }))
        {
            var metric = DiscrepancyMetrics.Parse(manifest.Defaults.Metric);
            var decode = new DecodeSettings(ExitMode.EarlyExit, manifest.Defaults.DenoisingSteps, manifest.Defaults.WarmStart);
            var samples = Calibration(engine.Package);
            var values = ValuesCollector.Collect(engine, samples, decode, metric, cancellationToken: cancellationToken);
            Directory.CreateDirectory(Path.Combine(packageDirectory, "thresholds"));
            foreach (var r in ShippedRs)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var set = ThresholdSet.Calibrate(values, manifest.Defaults.Metric, ExitFamily.Exp, r, manifest.Exits.Layers, manifest.LanguageModel.Layers, manifest.IsFlowMatching,
                    manifest.ModelId, manifest.ModelVersion, $"{manifest.SampleData}: calibration episodes ({samples.Count} samples), default decoding{(forbidFirstExit ? ", first exit forbidden" : "")}",
                    DateTimeOffset.UnixEpoch, forbidFirstExit);
                var relative = Path.Combine("thresholds", set.Name + ".json");
                set.Save(Path.Combine(packageDirectory, relative));
                names.Add(relative);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        manifest.ThresholdSets = names;
        File.WriteAllText(Path.Combine(packageDirectory, ModelPackage.ManifestFileName), ReferenceModelJson.Serialize(manifest));
    }

    public static ThresholdSet LoadThresholds(ModelPackage package, string name)
    {
        var match = package.Manifest.ThresholdSets.FirstOrDefault(p => Path.GetFileNameWithoutExtension(p) == name)
            ?? throw new ModelPackageException($"model '{package.Manifest.ModelId}' ships no threshold set '{name}' (has: {string.Join(", ", package.Manifest.ThresholdSets.Select(Path.GetFileNameWithoutExtension))})");
        return ThresholdSet.Load(package.PathOf(match));
    }

    /// <summary>Samples of the first three quarters of the episodes: the data thresholds are calibrated on.</summary>
    public static List<ObservationSample> Calibration(ModelPackage package) => Split(package, calibration: true);

    /// <summary>Samples of the last quarter of the episodes: never used for calibration.</summary>
    public static List<ObservationSample> HeldOut(ModelPackage package) => Split(package, calibration: false);

    private static List<ObservationSample> Split(ModelPackage package, bool calibration)
    {
        var samples = package.LoadSamples();
        var episodes = samples.Select(s => s.Episode).Distinct().Order().ToList();
        var cut = (int)Math.Ceiling(episodes.Count * CalibrationShare);
        var chosen = (calibration ? episodes.Take(cut) : episodes.Skip(cut)).ToHashSet();
        return samples.Where(s => chosen.Contains(s.Episode)).ToList();
    }

    private static bool IsCurrent(string directory, ReferenceModelConfig config)
    {
        try
        {
            var manifest = ModelPackage.Open(directory).Manifest;
            var expected = ManifestFactory.Create(config).Provenance;
            return manifest.ThresholdSets.Count == ShippedRs.Count
                && expected.All(kv => manifest.Provenance.TryGetValue(kv.Key, out var v) && v == kv.Value);
        }
        catch (ModelPackageException)
        {
            return false;
        }
    }
}
