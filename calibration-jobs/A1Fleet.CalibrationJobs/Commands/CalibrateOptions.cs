using System.Globalization;
using A1Fleet.Calibration;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>
/// Options of the calibrate verb, parsed and checked with every problem reported together. One set
/// of names serves both modes: without <c>--cluster</c> the job runs here; with it the same sweep is
/// submitted to the silos' operator API. Options that only one mode can honour are refused in the
/// other rather than silently ignored, so a run never differs from what its command line says.
/// </summary>
internal sealed class CalibrateOptions
{
    private static readonly string[] ValueOptions =
        ["model", "dataset", "mapping", "families", "r", "metric", "decode", "bad-data", "holdout-share", "out", "batch", "threads", "provider", "seed", "ffmpeg",
         "cluster", "shards", "make-live", "job-id"];

    private static readonly string[] FlagOptions = ["forbid-first-exit", "no-wait"];

    /// <summary>Stand-alone only: what a cluster job cannot be told, and why (it reads the dataset and runs the engine with the silos' settings).</summary>
    private static readonly (string Option, string Why)[] StandAloneOnly =
    [
        ("mapping", "a cluster job maps the dataset with the default mapping"),
        ("threads", "the silos' engine settings apply"),
        ("provider", "the silos' engine settings apply"),
        ("seed", "cluster jobs calibrate with seed 0"),
        ("forbid-first-exit", "cluster jobs have no such setting"),
        ("ffmpeg", "the silos decode video with their own ffmpeg"),
    ];

    private static readonly (string Option, string What)[] ClusterOnly =
    [
        ("shards", "splits a cluster job over GPU silos"),
        ("make-live", "makes a published set live on the cluster; stand-alone runs write sets to --out"),
        ("job-id", "names a cluster job"),
        ("no-wait", "leaves a cluster job running"),
    ];

    /// <summary>Stand-alone: the model package directory. Cluster: what --model said (a model id, or a package directory the id was read from).</summary>
    public required string ModelDirectory { get; init; }
    public required string DatasetDirectory { get; init; }

    /// <summary>The operator API to submit to; null runs stand-alone.</summary>
    public Uri? Cluster { get; init; }

    /// <summary>Cluster: the model id the silos serve.</summary>
    public string? ModelId { get; init; }

    /// <summary>Cluster: shards to split the calibration episodes into; null takes the server's default (4).</summary>
    public int? Shards { get; init; }

    /// <summary>Cluster: the set name (e.g. exp-r0.7-cosine) to make live once published.</summary>
    public string? MakeLive { get; init; }

    /// <summary>Cluster: the job id (a retried submission with the same id attaches to that job); null generates one.</summary>
    public string? JobId { get; init; }

    /// <summary>Cluster: print the job id and return once the job is accepted.</summary>
    public bool NoWait { get; init; }

    /// <summary>Whether --out was given; a cluster run writes the published sets only then.</summary>
    public bool OutDirectoryGiven { get; init; }
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
        var cluster = a.Parsed<Uri?>("cluster", null, text => OperatorClient.TryParseBaseAddress(text, out var uri, out var problem) ? (uri, null) : (null, problem));
        var clusterMode = a.Value("cluster") is not null;
        foreach (var (option, why) in clusterMode ? StandAloneOnly : [])
        {
            if (a.Value(option) is not null || a.Flag(option))
            {
                a.Errors.Add($"--{option} applies to stand-alone runs only: {why}");
            }
        }

        foreach (var (option, what) in clusterMode ? [] : ClusterOnly)
        {
            if (a.Value(option) is not null || a.Flag(option))
            {
                a.Errors.Add($"--{option} needs --cluster URL: it {what}");
            }
        }

        var model = a.Required("model");
        var dataset = a.Required("dataset");
        var mapping = a.Value("mapping");
        string? modelId = null;
        if (clusterMode)
        {
            modelId = model is null ? null : ClusterModelId(model, a.Errors);
        }
        else if (model is not null && !File.Exists(Path.Combine(model, ModelPackage.ManifestFileName)))
        {
            a.Errors.Add($"--model {model}: no {ModelPackage.ManifestFileName} there (build one with ReferencePackages or the model builder)");
        }

        // A cluster job's dataset is opened by the GPU silos, which may see another file system than
        // this machine (a volume they mount); they check it and name every problem.
        if (!clusterMode && dataset is not null && !File.Exists(Path.Combine(dataset, LeRobotDataset.InfoFile)))
        {
            a.Errors.Add($"--dataset {dataset}: no {LeRobotDataset.InfoFile} there (a LeRobot v2.x dataset root is needed)");
        }

        if (!clusterMode && mapping is not null && !File.Exists(mapping))
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
        var batch = a.Parsed("batch", 16, text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && CalibrationSettings.BatchSizeProblem(v) is null
            ? (v, null) : (0, $"must be an integer in 1..{CalibrationSettings.MaxBatchSize}"));
        var threads = a.Parsed("threads", 0, text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v >= 0 ? (v, null) : (0, "must be 0 (one per core) or more"));
        var provider = a.Parsed("provider", "cpu", text => text is "cpu" or "cuda" ? (text, null) : ("cpu", "use cpu or cuda"));
        var seed = a.Parsed("seed", 0UL, text => ulong.TryParse(text, CultureInfo.InvariantCulture, out var v) ? (v, null) : (0UL, "must be a non-negative integer"));
        if ((families.Contains(ExitFamily.Exp) || families.Contains(ExitFamily.Gamma)) && rs.Any(r => r <= 0))
        {
            a.Errors.Add("--r: the exp and gamma families need every r > 0");
        }

        var shards = a.Parsed<int?>("shards", null, text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && CalibrationSettings.ShardsProblem(v) is null
            ? (v, null) : (null, $"must be an integer in 1..{CalibrationSettings.MaxShards}"));
        var jobId = a.Parsed<string?>("job-id", null, text => text.Length <= 128 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? (text, null)
            : (null, "use at most 128 letters, digits, '-', '_' or '.'"));
        var makeLive = a.Value("make-live");
        if (makeLive is not null && MakeLiveProblem(makeLive, families, rs, metric) is { } makeLiveProblem)
        {
            a.Errors.Add($"--make-live {makeLive}: {makeLiveProblem}");
        }

        if (a.Errors.Count > 0)
        {
            return (null, a.Errors);
        }

        return (new CalibrateOptions
        {
            ModelDirectory = model!,
            // Relative paths mean this machine's working directory in both modes; the silos get the absolute path.
            DatasetDirectory = clusterMode ? Path.GetFullPath(dataset!) : dataset!,
            Cluster = cluster,
            ModelId = modelId,
            Shards = shards,
            MakeLive = makeLive,
            JobId = jobId,
            NoWait = a.Flag("no-wait"),
            OutDirectoryGiven = a.Value("out") is not null,
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

    /// <summary>
    /// A cluster job's model: a model id, or a local package directory whose manifest names it (so the
    /// same --model works in both modes when the package is at hand).
    /// </summary>
    private static string? ClusterModelId(string model, List<string> errors)
    {
        if (Directory.Exists(model))
        {
            try
            {
                return ModelPackage.Open(model).Manifest.ModelId;
            }
            catch (Exception ex) when (ex is ModelPackageException or IOException)
            {
                errors.Add($"--model {model}: a directory, but not a readable model package ({ex.Message}); give the model id the silos serve");
                return null;
            }
        }

        if (model.Contains('/', StringComparison.Ordinal) || model.Contains('\\', StringComparison.Ordinal))
        {
            errors.Add($"--model {model}: no such directory; with --cluster give the model id the silos serve (a1ctl models lists them) or a local model package");
            return null;
        }

        return model;
    }

    /// <summary>
    /// Null when the sweep publishes a set of that name. Without --metric the model's default metric
    /// is not known here, so any metric is accepted; the job's result is checked again.
    /// </summary>
    private static string? MakeLiveProblem(string name, IReadOnlyList<ExitFamily> families, IReadOnlyList<double> rs, string? metric)
    {
        string[] metrics = metric is null ? [.. Enum.GetValues<DiscrepancyMetric>().Select(DiscrepancyMetrics.Name)] : [metric];
        var names = families.SelectMany(f => rs.SelectMany(r => metrics.Select(m => ThresholdSet.NameOf(ExitDistribution.FamilyName(f), r, m)))).ToHashSet(StringComparer.Ordinal);
        if (names.Contains(name))
        {
            return null;
        }

        var swept = families.SelectMany(f => rs.Select(r => ThresholdSet.NameOf(ExitDistribution.FamilyName(f), r, metric ?? "METRIC")));
        return $"not a set this sweep publishes (it publishes {string.Join(", ", swept)}{(metric is null ? ", METRIC being --metric or the model's default, e.g. cosine" : "")})";
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
