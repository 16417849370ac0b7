using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using A1Fleet.Calibration;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>
/// What a calibrate command line asked for, checked. One set of names serves both modes: without <c>--cluster</c>
/// the job runs here; with it the same sweep is submitted to the silos' operator API.
/// </summary>
internal sealed class CalibrateOptions
{
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

    /// <summary>
    /// A cluster job's model: a model id, or a local package directory whose manifest names it (so the
    /// same --model works in both modes when the package is at hand).
    /// </summary>
    internal static string? ClusterModelId(string model, List<string> errors)
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

}

/// <summary>
/// The calibrate verb's flags: the sweep and cluster flags from <see cref="CalibrationJobOptions"/> (the ones a1ctl
/// calibrate has too), and the stand-alone ones. Options that only one mode can honour are refused in the other
/// rather than silently ignored, so a run never differs from what its command line says.
/// </summary>
internal sealed class CalibrateCommandLine
{
    private readonly CalibrationJobOptions _job = new();

    private readonly Option<Uri?> _cluster = CalibrationJobOptions.Parsed<Uri?>(
        "--cluster", "submit to the silos' operator API at URL (e.g. http://a1fleet-silo:8080) instead of running here; the API key is A1FLEET_API_KEY's", "URL", null,
        text => OperatorClient.TryParseBaseAddress(text, out var uri, out var problem) ? (uri, null) : (null, problem));

    private readonly Option<string> _model = new("--model")
    {
        Description = "stand-alone: the model package directory; cluster: the model id the silos serve, or a local package directory to read it from",
        HelpName = "DIR|ID",
        Required = true,
    };

    private readonly Option<string> _dataset = new("--dataset")
    {
        Description = "the LeRobot v2.x dataset root; on the cluster, as the GPU silos see it (relative paths are made absolute here)",
        HelpName = "DIR",
        Required = true,
    };

    private readonly Option<string?> _out = new("--out") { Description = "where the sets (and, stand-alone, calibration-report.json) are written (default artifacts/calibration; cluster: only when given)", HelpName = "DIR" };

    private readonly Option<string?> _mapping = new("--mapping") { Description = "dataset-to-model mapping file (default: by the model's camera and state names)", HelpName = "FILE" };

    private readonly Option<int> _threads = CalibrationJobOptions.Parsed("--threads", "engine threads, 0 for one per core this process may use", "N", 0,
        text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v >= 0 ? (v, null) : (0, "must be 0 (one per core) or more"));

    private readonly Option<string> _provider = CalibrationJobOptions.Parsed("--provider", "execution provider: cpu or cuda", "cpu|cuda", "cpu",
        text => text is "cpu" or "cuda" ? (text, null) : ("cpu", "use cpu or cuda"));

    private readonly Option<ulong> _seed = CalibrationJobOptions.Parsed("--seed", "noise seed", "N", 0UL,
        text => ulong.TryParse(text, CultureInfo.InvariantCulture, out var v) ? (v, null) : (0UL, "must be a non-negative integer"));

    private readonly Option<bool> _forbidFirstExit = new("--forbid-first-exit") { Description = "force p_1 = 0 (the reference code's 7B/8B setting)" };

    private readonly Option<string?> _ffmpeg = new("--ffmpeg") { Description = "the ffmpeg that decodes video datasets (default: ffmpeg on PATH)", HelpName = "PATH" };

    /// <summary>Stand-alone only: what a cluster job cannot be told, and why (it reads the dataset and runs the engine with the silos' settings).</summary>
    private (Option Option, string Why)[] StandAloneOnly =>
    [
        (_mapping, "a cluster job maps the dataset with the default mapping"),
        (_threads, "the silos' engine settings apply"),
        (_provider, "the silos' engine settings apply"),
        (_seed, "cluster jobs calibrate with seed 0"),
        (_forbidFirstExit, "cluster jobs have no such setting"),
        (_ffmpeg, "the silos decode video with their own ffmpeg"),
    ];

    private (Option Option, string What)[] ClusterOnly =>
    [
        (_job.Shards, "splits a cluster job over GPU silos"),
        (_job.MakeLive, "makes a published set live on the cluster; stand-alone runs write sets to --out"),
        (_job.JobId, "names a cluster job"),
        (_job.NoWait, "leaves a cluster job running"),
    ];

    public Command Create(Func<CalibrateOptions, CancellationToken, Task<int>> run)
    {
        var command = new CheckedCommand("calibrate", """
            calibrate exit thresholds on a LeRobot dataset: here (the model runs in this process; held-out episodes measure the sets)
            or, with --cluster URL, as a job on the silos (calibrate --cluster URL --model ID|DIR --dataset DIR; the same job and flags
            as a1ctl calibrate), printing the same table from the published sets. Ctrl-C cancels the cluster job; with --no-wait
            the job is left running. Defaults that differ: --decode exit-warm-k2 on the cluster instead of the model's.
            """)
        {
            _cluster, _model, _dataset, _out, _mapping, _threads, _provider, _seed, _forbidFirstExit, _ffmpeg,
        };
        _job.AddTo(command, [.. _job.Sweep, .. _job.ClusterOnly]);
        command.Checks.Add(Problems);
        command.SetAction((parsed, ct) => run(Options(parsed), ct));
        return command;
    }

    private IEnumerable<string> Problems(ParseResult result)
    {
        var clusterMode = Given(result, _cluster);
        foreach (var (option, why) in clusterMode ? StandAloneOnly : [])
        {
            if (Given(result, option))
            {
                yield return $"{option.Name} applies to stand-alone runs only: {why}";
            }
        }

        foreach (var (option, what) in clusterMode ? [] : ClusterOnly)
        {
            if (Given(result, option))
            {
                yield return $"{option.Name} needs --cluster URL: it {what}";
            }
        }

        var model = Token(result, _model);
        var dataset = Token(result, _dataset);
        var mapping = Token(result, _mapping);
        var errors = new List<string>();
        if (clusterMode)
        {
            if (model is not null)
            {
                CalibrateOptions.ClusterModelId(model, errors);
            }
        }
        else if (model is not null && !File.Exists(Path.Combine(model, ModelPackage.ManifestFileName)))
        {
            errors.Add($"--model {model}: no {ModelPackage.ManifestFileName} there (build one with ReferencePackages or the model builder)");
        }

        // A cluster job's dataset is opened by the GPU silos, which may see another file system than
        // this machine (a volume they mount); they check it and name every problem.
        if (!clusterMode && dataset is not null && !File.Exists(Path.Combine(dataset, LeRobotDataset.InfoFile)))
        {
            errors.Add($"--dataset {dataset}: no {LeRobotDataset.InfoFile} there (a LeRobot v2.x dataset root is needed)");
        }

        if (!clusterMode && mapping is not null && !File.Exists(mapping))
        {
            errors.Add($"--mapping {mapping}: the file does not exist");
        }

        foreach (var error in errors)
        {
            yield return error;
        }
    }

    private static string? Token(ParseResult result, Option option) => result.GetResult(option) is { Tokens: [var token, ..] } ? token.Value : null;

    private static bool Given(ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private CalibrateOptions Options(ParseResult parsed)
    {
        var clusterMode = parsed.GetValue(_cluster) is not null;
        var model = parsed.GetValue(_model)!;
        var dataset = parsed.GetValue(_dataset)!;
        var decodeName = parsed.GetValue(_job.Decode);
        return new CalibrateOptions
        {
            ModelDirectory = model,
            // Relative paths mean this machine's working directory in both modes; the silos get the absolute path.
            DatasetDirectory = clusterMode ? Path.GetFullPath(dataset) : dataset,
            Cluster = parsed.GetValue(_cluster),
            ModelId = clusterMode ? CalibrateOptions.ClusterModelId(model, []) : null,
            Shards = parsed.GetValue(_job.Shards),
            MakeLive = parsed.GetValue(_job.MakeLive),
            JobId = parsed.GetValue(_job.JobId),
            NoWait = parsed.GetValue(_job.NoWait),
            OutDirectoryGiven = parsed.GetValue(_out) is not null,
            MappingFile = parsed.GetValue(_mapping),
            Families = parsed.GetValue(_job.Families) ?? [CalibrationRules.DefaultFamily],
            Rs = parsed.GetValue(_job.Rs) ?? CalibrationRules.PaperRs,
            Metric = parsed.GetValue(_job.Metric),
            DecodeName = decodeName,
            Decode = decodeName is null ? null : DecodeSettings.Of(Decodings.Parse(decodeName)),
            BadData = _job.SkipsBadData(parsed) ? BadDataPolicy.Skip : BadDataPolicy.Fail,
            HoldoutShare = parsed.GetValue(_job.HoldoutShare),
            OutDirectory = parsed.GetValue(_out) ?? Path.Combine("artifacts", "calibration"),
            BatchSize = parsed.GetValue(_job.BatchSize),
            Threads = parsed.GetValue(_threads),
            Provider = parsed.GetValue(_provider)!,
            Seed = parsed.GetValue(_seed),
            ForbidFirstExit = parsed.GetValue(_forbidFirstExit),
            Ffmpeg = parsed.GetValue(_ffmpeg) ?? "ffmpeg",
        };
    }
}
