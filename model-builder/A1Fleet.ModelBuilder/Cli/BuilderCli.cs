using System.Diagnostics;
using System.Globalization;
using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.ModelBuilder.Cli;

/// <summary>
/// Command line: <c>build (--preset NAME | --config FILE) --out DIR [--seed N] [--thresholds none|shipped]</c>, <c>presets</c>,
/// <c>config --preset NAME</c> (prints a preset as JSON, a starting point for --config files), and
/// <c>calibrate --package DIR</c> (adds the shipped threshold sets to any package with samples, for
/// example one exported by training/).
/// </summary>
public static class BuilderCli
{
    private const string Usage = """
        usage:
          build --preset NAME --out DIR [--seed N] [--thresholds none|shipped]   build a preset model package
          build --config FILE --out DIR [--seed N] [--thresholds none|shipped]   build from a JSON config
              --thresholds shipped: also calibrate the exp-family sets r = 1.0, 0.7, 0.4, 0.1 on the package's
              calibration episodes and list them in the manifest (what the demo and tests serve; a fleet serving
              a package without sets runs every request at full depth)
          presets                                    list preset names
          config --preset NAME                       print a preset's config as JSON
          calibrate --package DIR                    calibrate exp r = 1, 0.7, 0.4, 0.1 thresholds on the
                                                     package's samples and list them in its model.json
        """;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            return args.FirstOrDefault() switch
            {
                "build" => Build(CliOptions.Parse(args[1..]), output),
                "presets" => Print(output, string.Join(Environment.NewLine, ReferenceModelPresets.Names)),
                "config" => Print(output, ReferenceModelJson.Serialize(ResolveConfig(CliOptions.Parse(args[1..])))),
                "calibrate" => Calibrate(CliOptions.Parse(args[1..]), output),
                _ => Fail(error, Usage),
            };
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or InvalidDataException or System.Text.Json.JsonException or A1Fleet.ModelFormat.ModelPackageException)
        {
            return Fail(error, $"error: {ex.Message}");
        }
    }

    private static int Build(CliOptions options, TextWriter output)
    {
        var config = ResolveConfig(options);
        string directory = options.Required("out");
        var thresholds = options.Optional("thresholds") ?? "none";
        if (thresholds is not ("none" or "shipped"))
        {
            throw new ArgumentException($"--thresholds {thresholds}: use none or shipped");
        }

        var stopwatch = Stopwatch.StartNew();
        var result = ReferenceModelBuilder.Build(config, directory);
        stopwatch.Stop();
        BuildReport.Write(output, config, result, stopwatch.Elapsed);
        if (thresholds == "shipped")
        {
            stopwatch.Restart();
            ReferencePackages.CalibrateShippedThresholds(directory);
            output.WriteLine($"thresholds: exp r = {string.Join(", ", ReferencePackages.ShippedRs.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture)))} " +
                             $"calibrated on the calibration episodes in {stopwatch.Elapsed.TotalSeconds:F1} s (thresholds/*.json)");
        }

        return 0;
    }

    private static int Calibrate(CliOptions options, TextWriter output)
    {
        string directory = options.Required("package");
        Packaging.ReferencePackages.CalibrateShippedThresholds(directory);
        var manifest = A1Fleet.ModelFormat.ModelPackage.Open(directory).Manifest;
        foreach (var set in manifest.ThresholdSets)
        {
            output.WriteLine(set);
        }

        return 0;
    }

    private static ReferenceModelConfig ResolveConfig(CliOptions options)
    {
        string? preset = options.Optional("preset");
        string? file = options.Optional("config");
        if ((preset is null) == (file is null))
        {
            throw new ArgumentException("give exactly one of --preset and --config");
        }

        var config = preset is not null ? ReferenceModelPresets.Get(preset) : ReferenceModelJson.LoadConfig(file!);
        if (options.Optional("seed") is string seed)
        {
            config = config with { Seed = ulong.Parse(seed, NumberStyles.None, CultureInfo.InvariantCulture) };
        }

        config.Validate();
        return config;
    }

    private static int Print(TextWriter output, string text)
    {
        output.WriteLine(text);
        return 0;
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine(message);
        return 2;
    }
}
