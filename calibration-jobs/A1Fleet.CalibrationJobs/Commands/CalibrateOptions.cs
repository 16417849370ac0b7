using System.Globalization;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>Options of the calibrate verb, parsed and checked with every problem reported together.</summary>
internal sealed class CalibrateOptions
{
    private static readonly string[] ValueOptions =
        ["model", "dataset", "mapping", "families", "r", "metric", "decode", "bad-data", "holdout-share", "out", "batch", "threads", "provider", "seed", "ffmpeg"];

    private static readonly string[] FlagOptions = ["forbid-first-exit"];

    public required string ModelDirectory { get; init; }
    public required string DatasetDirectory { get; init; }
    public string? MappingFile { get; init; }
    public required IReadOnlyList<ExitFamily> Families { get; init; }
    public required IReadOnlyList<double> Rs { get; init; }
    public string? Metric { get; init; }
    /// <summary>Null: the model's default decoding.</summary>
    public string? DecodeName { get; init; }
    public DecodeSettings? Decode { get; init; }
    public BadDataPolicy BadData { get; init; }
    public double HoldoutShare { get; init; }
    public required string OutDirectory { get; init; }
    public int BatchSize { get; init; }
    public int Threads { get; init; }
    public required string Provider { get; init; }
    public ulong Seed { get; init; }
    public bool ForbidFirstExit { get; init; }
    public required string Ffmpeg { get; init; }

    public static (CalibrateOptions? Options, IReadOnlyList<string> Errors) Parse(IReadOnlyList<string> args)
    {
        var a = ParsedArguments.Parse(args, ValueOptions, FlagOptions);
        var model = a.Required("model");
        var dataset = a.Required("dataset");
        var mapping = a.Value("mapping");
        if (model is not null && !File.Exists(Path.Combine(model, ModelPackage.ManifestFileName)))
        {
            a.Errors.Add($"--model {model}: no {ModelPackage.ManifestFileName} there (build one with ReferencePackages or the model builder)");
        }

        if (dataset is not null && !File.Exists(Path.Combine(dataset, LeRobotDataset.InfoFile)))
        {
            a.Errors.Add($"--dataset {dataset}: no {LeRobotDataset.InfoFile} there (a LeRobot v2.x dataset root is needed)");
        }

        if (mapping is not null && !File.Exists(mapping))
        {
            a.Errors.Add($"--mapping {mapping}: the file does not exist");
        }

        var families = a.Parsed<IReadOnlyList<ExitFamily>>("families", [ExitFamily.Exp], ParseFamilies);
        var rs = a.Parsed<IReadOnlyList<double>>("r", [1.0, 0.7, 0.4, 0.1], ParseRs);
        var metric = a.Parsed<string?>("metric", null, text => DiscrepancyMetrics.TryParse(text, out var m)
            ? (DiscrepancyMetrics.Name(m), null)
            : (null, "unknown metric; use cosine, l2, mean or max"));
        var decode = a.Parsed<DecodeSettings?>("decode", null, ParseDecode);
        var badData = a.Parsed("bad-data", BadDataPolicy.Fail, text => text switch
        {
            "fail" => (BadDataPolicy.Fail, null),
            "skip" => (BadDataPolicy.Skip, (string?)null),
            _ => (BadDataPolicy.Fail, "use fail or skip"),
        });
        var holdout = a.Parsed("holdout-share", 0.25, text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && v < 1
            ? (v, null)
            : (0, "must be a number in [0, 1)"));
        var batch = a.Parsed("batch", 16, text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v is >= 1 and <= 1024 ? (v, null) : (0, "must be an integer in 1..1024"));
        var threads = a.Parsed("threads", 0, text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v >= 0 ? (v, null) : (0, "must be 0 (one per core) or more"));
        var provider = a.Parsed("provider", "cpu", text => text is "cpu" or "cuda" ? (text, null) : ("cpu", "use cpu or cuda"));
        var seed = a.Parsed("seed", 0UL, text => ulong.TryParse(text, CultureInfo.InvariantCulture, out var v) ? (v, null) : (0UL, "must be a non-negative integer"));
        if ((families.Contains(ExitFamily.Exp) || families.Contains(ExitFamily.Gamma)) && rs.Any(r => r <= 0))
        {
            a.Errors.Add("--r: the exp and gamma families need every r > 0");
        }

        if (a.Errors.Count > 0)
        {
            return (null, a.Errors);
        }

        return (new CalibrateOptions
        {
            ModelDirectory = model!,
            DatasetDirectory = dataset!,
            MappingFile = mapping,
            Families = families,
            Rs = rs,
            Metric = metric,
            DecodeName = a.Value("decode"),
            Decode = decode,
            BadData = badData,
            HoldoutShare = holdout,
            OutDirectory = a.Value("out") ?? Path.Combine("artifacts", "calibration"),
            BatchSize = batch,
            Threads = threads,
            Provider = provider,
            Seed = seed,
            ForbidFirstExit = a.Flag("forbid-first-exit"),
            Ffmpeg = a.Value("ffmpeg") ?? "ffmpeg",
        }, []);
    }

    private static (IReadOnlyList<ExitFamily>, string?) ParseFamilies(string text)
    {
        var families = new List<ExitFamily>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!ExitDistribution.TryParseFamily(name, out var family))
            {
                return ([], $"unknown family '{name}'; use exp, gauss or gamma");
            }

            families.Add(family);
        }

        return families.Count == 0 ? ([], "name at least one family") : (families, null);
    }

    private static (IReadOnlyList<double>, string?) ParseRs(string text)
    {
        var rs = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || !double.IsFinite(r))
            {
                return ([], $"'{part}' is not a number");
            }

            rs.Add(r);
        }

        return rs.Count == 0 ? ([], "give at least one value") : (rs, null);
    }

    private static (DecodeSettings?, string?) ParseDecode(string text)
    {
        if (!DecodeSettings.Named.TryGetValue(text, out var decode))
        {
            return (null, $"unknown decoding; use one of {string.Join(", ", DecodeSettings.Named.Where(n => n.Value.Mode == ExitMode.EarlyExit).Select(n => n.Key))}");
        }

        return decode.Mode == ExitMode.EarlyExit
            ? (decode, null)
            : (null, "calibration needs an early-exit decoding (the head runs at every exit)");
    }
}
