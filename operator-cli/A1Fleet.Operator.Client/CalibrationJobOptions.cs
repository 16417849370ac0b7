using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using A1Fleet.Api.Contracts;
using A1Fleet.EarlyExit;

namespace A1Fleet.Operator.Client;

/// <summary>
/// The flags of a calibration, defined once for every command that starts one: <c>a1ctl calibrate</c>,
/// <c>a1ctl schedule-calibration</c> and the calibration job's <c>calibrate</c> (stand-alone or <c>--cluster</c>).
/// One set of names (<c>--families</c>, with <c>--family</c> kept as an alias); the defaults and rules are
/// <see cref="CalibrationRules"/>' (the same the HTTP API applies to a body that leaves a field out); a bad value is
/// a command-line error naming the flag.
/// </summary>
public sealed class CalibrationJobOptions
{
    /// <summary>The sweep: what every calibration is told, stand-alone or on the cluster.</summary>
    public Option<IReadOnlyList<ExitFamily>?> Families { get; } = Parsed<IReadOnlyList<ExitFamily>?>(
        "--families", "exit families to calibrate, comma-separated: exp, gauss, gamma (default exp)", "LIST", null, ParseFamilies, "--family");

    public Option<IReadOnlyList<double>?> Rs { get; } = Parsed<IReadOnlyList<double>?>(
        "--r", "the families' r values, comma-separated (default 1.0,0.7,0.4,0.1)", "R1,R2", null, ParseRs);

    /// <summary>The metric's canonical name; null takes the model's default.</summary>
    public Option<string?> Metric { get; } = Parsed<string?>(
        "--metric", "discrepancy metric: cosine, l2, mean or max (default: the model's)", "NAME", null,
        text => DiscrepancyMetrics.TryParse(text, out var m) ? (DiscrepancyMetrics.Name(m), null) : (null, "unknown metric; use cosine, l2, mean or max"));

    /// <summary>The decoding's name as given; null takes the default (the model's stand-alone, exit-warm-k2 on the cluster).</summary>
    public Option<string?> Decode { get; } = Parsed<string?>(
        "--decode", $"early-exit decoding: {string.Join(", ", Decodings.Names(earlyExitOnly: true))} (default: the model's; {Decodings.Name(CalibrationRules.DefaultDecoding)} on the cluster)", "NAME", null, ParseDecode);

    public Option<string> BadData { get; } = Parsed(
        "--bad-data", $"a sample that cannot be read: fail stops the job, skip drops it and counts it (default {BadDataName(CalibrationRules.DefaultSkipBadData)})", "fail|skip", BadDataName(CalibrationRules.DefaultSkipBadData),
        text => text is "fail" or "skip" ? (text, null) : (BadDataName(CalibrationRules.DefaultSkipBadData), "use fail or skip"));

    public Option<double> HoldoutShare { get; } = Parsed(
        "--holdout-share", "share of the episodes (the last ones) kept out of calibration to measure the sets on", "SHARE", CalibrationRules.DefaultHoldoutShare,
        text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && CalibrationRules.HoldoutShareProblem(v) is null ? (v, null) : (0, "must be a number in [0, 1)"));

    public Option<int> BatchSize { get; } = Parsed(
        "--batch", $"requests per engine batch, 1..{CalibrationRules.MaxBatchSize}", "N", CalibrationRules.DefaultBatchSize,
        text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && CalibrationRules.BatchSizeProblem(v) is null ? (v, null) : (0, $"must be an integer in 1..{CalibrationRules.MaxBatchSize}"));

    /// <summary>The cluster's: how the job is split and what it makes live.</summary>
    public Option<int?> Shards { get; } = Parsed<int?>(
        "--shards", $"shards the calibration episodes are split into over the GPU silos, 1..{CalibrationRules.MaxShards} (default {CalibrationRules.DefaultShards})", "N", null,
        text => int.TryParse(text, CultureInfo.InvariantCulture, out var v) && CalibrationRules.ShardsProblem(v) is null ? (v, null) : (null, $"must be an integer in 1..{CalibrationRules.MaxShards}"));

    public Option<string?> MakeLive { get; } = new("--make-live") { Description = "make this published set live once the job completes (e.g. exp-r0.7-cosine)", HelpName = "SET" };

    /// <summary>Submitting only: the job's id and whether to wait for it.</summary>
    public Option<string?> JobId { get; } = Parsed<string?>(
        "--job-id", "the job's id (default: generated); a retried submission with the same id attaches to that job", "ID", null,
        text => text.Length <= 128 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') ? (text, null) : (null, "use at most 128 letters, digits, '-', '_' or '.'"));

    public Option<bool> NoWait { get; } = new("--no-wait") { Description = "return once the job is accepted (it runs on; Ctrl-C while waiting cancels it)" };

    /// <summary>The sweep flags (both modes of the job, and every cluster submission).</summary>
    public IEnumerable<Option> Sweep => [Families, Rs, Metric, Decode, BadData, HoldoutShare, BatchSize];

    /// <summary>The flags only a cluster job has (the job's stand-alone mode refuses them).</summary>
    public IEnumerable<Option> ClusterOnly => [Shards, MakeLive, JobId, NoWait];

    /// <summary>Whether --bad-data says skip.</summary>
    public bool SkipsBadData(ParseResult parsed) => parsed.GetValue(BadData) == "skip";

    /// <summary>
    /// Adds <paramref name="options"/> to <paramref name="command"/>, and the checks across them: exp and gamma need
    /// r &gt; 0; --make-live must name a set the sweep publishes.
    /// </summary>
    public void AddTo(CheckedCommand command, IEnumerable<Option> options)
    {
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.Checks.Add(parsed => Problems(parsed, command.Options.Contains(MakeLive)));
    }

    private IEnumerable<string> Problems(ParseResult parsed, bool makeLiveFlag)
    {
        IReadOnlyList<ExitFamily> families;
        IReadOnlyList<double> rs;
        string? metric;
        try
        {
            families = parsed.GetValue(Families) ?? [CalibrationRules.DefaultFamily];
            rs = parsed.GetValue(Rs) ?? CalibrationRules.PaperRs;
            metric = parsed.GetValue(Metric);
        }
        catch (InvalidOperationException)
        {
            // A flag's own value is wrong, and the parser reports that.
            yield break;
        }

        if (families.Any(f => f is ExitFamily.Exp or ExitFamily.Gamma) && rs.Any(r => r <= 0))
        {
            yield return "--r: the exp and gamma families need every r > 0";
        }

        if (makeLiveFlag && parsed.GetValue(MakeLive) is { } makeLive && MakeLiveProblem(makeLive, families, rs, metric) is { } problem)
        {
            yield return $"--make-live {makeLive}: {problem}";
        }
    }

    /// <summary>The body of <c>POST /api/calibrations</c> the flags describe.</summary>
    public StartCalibrationRequest Request(ParseResult parsed, string modelId, string dataset, string? jobId) => new(
        modelId,
        dataset,
        Families: [.. (parsed.GetValue(Families) ?? [CalibrationRules.DefaultFamily]).Select(ExitDistribution.FamilyName)],
        Rs: [.. parsed.GetValue(Rs) ?? CalibrationRules.PaperRs],
        Metric: parsed.GetValue(Metric),
        Decode: parsed.GetValue(Decode),
        Shards: parsed.GetValue(Shards),
        HoldoutShare: parsed.GetValue(HoldoutShare),
        SkipBadData: SkipsBadData(parsed),
        MakeLive: parsed.GetValue(MakeLive),
        BatchSize: parsed.GetValue(BatchSize),
        JobId: jobId);

    /// <summary>The same job, as a schedule's (<c>PUT /api/models/{id}/calibration-schedule</c>).</summary>
    public SetCalibrationScheduleRequest ScheduleRequest(ParseResult parsed, string dataset, double everyMinutes, double? firstRunAfterSeconds, bool onlyWhenChanged)
    {
        var job = Request(parsed, "", dataset, null);
        return new SetCalibrationScheduleRequest(dataset, everyMinutes, firstRunAfterSeconds, onlyWhenChanged,
            job.Families, job.Rs, job.Metric, job.Decode, job.Shards, job.HoldoutShare, job.SkipBadData, job.MakeLive, job.BatchSize);
    }

    /// <summary>
    /// An option whose value <paramref name="parse"/> reads from its one token; a problem becomes a parse error
    /// "--name value: problem" (so the command line is refused, exit 2, naming the flag).
    /// </summary>
    public static Option<T> Parsed<T>(string name, string description, string helpName, T fallback, Func<string, (T Value, string? Problem)> parse, params string[] aliases)
    {
        var option = new Option<T>(name, aliases) { Description = description, HelpName = helpName, Arity = ArgumentArity.ExactlyOne };
        if (fallback is not null)
        {
            option.DefaultValueFactory = _ => fallback;
        }

        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return fallback;
            }

            var text = result.Tokens[0].Value;
            var (value, problem) = parse(text);
            if (problem is null)
            {
                return value;
            }

            var given = (result.Parent as OptionResult)?.IdentifierToken?.Value ?? name;
            result.AddError($"{given} {text}: {problem}");
            return fallback;
        };
        return option;
    }

    private static string BadDataName(bool skip) => skip ? "skip" : "fail";

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

    private static (string?, string?) ParseDecode(string text) =>
        Decodings.EarlyExitProblem(text, out var decoding) is { } problem ? (null, problem) : (Decodings.Name(decoding!.Value), null);
}
