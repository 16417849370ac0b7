using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace A1Fleet.EarlyExit;

/// <summary>
/// A calibrated set of exit thresholds with everything needed to judge and reproduce it (spec
/// "Threshold calibration", step 4). Persisted as camelCase JSON; infinite thresholds are written
/// as the strings "Infinity" / "-Infinity" because JSON has no infinite numbers.
/// </summary>
/// <remarks>Equality is by value, arrays element-wise.</remarks>
public sealed record ThresholdSet
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectNullableAnnotations = true,
    };

    /// <summary>Model the thresholds were calibrated for.</summary>
    public required string ModelId { get; init; }

    /// <summary>Version of that model: thresholds do not carry over to other weights.</summary>
    public required string ModelVersion { get; init; }

    /// <summary>
    /// Version of this set. <see cref="Calibrate"/> sets a content-derived id
    /// (<see cref="ComputeContentVersion"/>); a caller may replace it, e.g. with a counter.
    /// </summary>
    public required string Version { get; init; }

    /// <summary>Discrepancy metric name ("cosine", "l2", "mean", "max"); the runtime must use the same one.</summary>
    public required string Metric { get; init; }

    /// <summary>Target distribution family name ("exp", "gauss", "gamma").</summary>
    public required string Family { get; init; }

    /// <summary>Family parameter r.</summary>
    public required double R { get; init; }

    /// <summary>0-based LLM layer index of each exit, strictly ascending.</summary>
    public required int[] ExitLayers { get; init; }

    /// <summary>Number of LLM layers in the model.</summary>
    public required int TotalLayers { get; init; }

    /// <summary>T_k per exit; -Infinity switches an exit off, the last is always +Infinity.</summary>
    public required double[] Thresholds { get; init; }

    /// <summary>Number of calibration samples N.</summary>
    public required int SampleCount { get; init; }

    /// <summary>Where the calibration data came from (data set, split, sampling).</summary>
    public required string Source { get; init; }

    /// <summary>Share of the calibration samples that exit at each exit under these thresholds.</summary>
    public required double[] ExpectedExitShares { get; init; }

    /// <summary>Fraction of LLM layers executed on the calibration data under these thresholds.</summary>
    public required double ExpectedLayerFraction { get; init; }

    /// <summary>Whether the first exit was given a zero target share.</summary>
    public required bool ForbidFirstExit { get; init; }

    /// <summary>When the set was calibrated.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Short label such as "exp-r1.0-cosine": family, r (at least one decimal), metric.</summary>
    [JsonIgnore]
    public string Name => NameOf(Family, R, Metric);

    /// <summary>
    /// The <see cref="Name"/> a set of this family, r and metric gets, so that a set can be named
    /// before it is calibrated (to make it live when a calibration job publishes it).
    /// </summary>
    public static string NameOf(string family, double r, string metric) => $"{family}-r{r.ToString("0.0###", CultureInfo.InvariantCulture)}-{metric}";

    /// <summary><see cref="Metric"/> as an enum.</summary>
    /// <exception cref="ArgumentException">The metric name is unknown.</exception>
    [JsonIgnore]
    public DiscrepancyMetric ParsedMetric => DiscrepancyMetrics.Parse(Metric);

    /// <summary><see cref="Family"/> as an enum.</summary>
    /// <exception cref="ArgumentException">The family name is unknown.</exception>
    [JsonIgnore]
    public ExitFamily ParsedFamily => ExitDistribution.ParseFamily(Family);

    /// <summary>
    /// Calibrates thresholds on <paramref name="values"/>: target shares from the family, filtered
    /// quantile thresholds, then the shares and layer fraction those thresholds actually give on
    /// the same data (ties and switched-off exits make them differ from the targets).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown metric, bad family parameters, exit layers that do not match the matrix or the model, or an empty matrix.</exception>
    public static ThresholdSet Calibrate(
        ValuesMatrix values,
        string metric,
        ExitFamily family,
        double r,
        IReadOnlyList<int> exitLayers,
        int totalLayers,
        bool exitBlockRuns,
        string modelId,
        string modelVersion,
        string source,
        DateTimeOffset createdAt,
        bool forbidFirstExit = false)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(exitLayers);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelVersion);
        ArgumentNullException.ThrowIfNull(source);
        var parsedMetric = DiscrepancyMetrics.Parse(metric);
        if (exitLayers.Count != values.Exits)
        {
            throw new ArgumentException($"Got {exitLayers.Count} exit layers for a matrix with {values.Exits} exits.", nameof(exitLayers));
        }

        var layerProblem = ExitLayersProblem(exitLayers, totalLayers);
        if (layerProblem is not null)
        {
            throw new ArgumentException(layerProblem, nameof(exitLayers));
        }

        var targets = ExitDistribution.TargetShares(family, r, values.Exits, forbidFirstExit);
        var thresholds = ThresholdCalibrator.FilteredQuantileThresholds(values, targets);
        var realised = ThresholdCalibrator.RealisedShares(values, thresholds);
        var set = new ThresholdSet
        {
            ModelId = modelId,
            ModelVersion = modelVersion,
            Version = string.Empty,
            Metric = DiscrepancyMetrics.Name(parsedMetric),
            Family = ExitDistribution.FamilyName(family),
            R = r,
            ExitLayers = [.. exitLayers],
            TotalLayers = totalLayers,
            Thresholds = thresholds,
            SampleCount = values.Samples,
            Source = source,
            ExpectedExitShares = realised,
            ExpectedLayerFraction = ThresholdCalibrator.ExpectedLayerFraction(realised, exitLayers, totalLayers, exitBlockRuns),
            ForbidFirstExit = forbidFirstExit,
            CreatedAt = createdAt,
        };
        return set with { Version = set.ComputeContentVersion() };
    }

    /// <summary>
    /// A 16-hex-digit id hashed from everything that determines runtime behaviour and its
    /// provenance (model, metric, family, r, layers, thresholds, sample count, source, first-exit
    /// option), but not <see cref="Version"/> or <see cref="CreatedAt"/>: recalibrating the same
    /// data gives the same id, so fleets can tell whether two sets really differ.
    /// </summary>
    public string ComputeContentVersion()
    {
        var text = new StringBuilder();
        void Field(string name, string value) => text.Append(name).Append('=').Append(value).Append('\n');
        static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        Field("modelId", ModelId);
        Field("modelVersion", ModelVersion);
        Field("metric", Metric);
        Field("family", Family);
        Field("r", Number(R));
        Field("exitLayers", string.Join(',', ExitLayers ?? []));
        Field("totalLayers", TotalLayers.ToString(CultureInfo.InvariantCulture));
        Field("thresholds", string.Join(',', (Thresholds ?? []).Select(Number)));
        Field("sampleCount", SampleCount.ToString(CultureInfo.InvariantCulture));
        Field("source", Source);
        Field("forbidFirstExit", ForbidFirstExit ? "true" : "false");
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        return Convert.ToHexStringLower(hash, 0, 8);
    }

    /// <summary>Indented camelCase JSON, infinities as "Infinity" / "-Infinity".</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a set.</summary>
    /// <exception cref="InvalidDataException">Malformed JSON, a missing field, or a set that fails <see cref="Validate"/>.</exception>
    public static ThresholdSet FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        ThresholdSet? set;
        try
        {
            set = JsonSerializer.Deserialize<ThresholdSet>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Threshold set JSON is malformed: {e.Message}", e);
        }

        if (set is null)
        {
            throw new InvalidDataException("Threshold set JSON is 'null'.");
        }

        set.Validate();
        return set;
    }

    /// <summary>
    /// Validates, then writes the JSON through a temporary file and a rename, so that a server
    /// reloading the file never reads a half-written set.
    /// </summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Validate();
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var temporaryPath = $"{fullPath}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllText(temporaryPath, ToJson());
            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporaryPath))
            {
                File.Delete(temporaryPath);
            }
        }
    }

    /// <summary>Reads and validates a set saved by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The content is invalid; the message names the file and the field.</exception>
    public static ThresholdSet Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var json = File.ReadAllText(path);
        try
        {
            return FromJson(json);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Threshold set file '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks the set is usable by the runtime: known metric and family, exit layers strictly
    /// ascending inside the model, one threshold and one share per exit, no NaN threshold, the
    /// last threshold +Infinity (the last exit must always be taken).
    /// </summary>
    /// <exception cref="InvalidDataException">The first problem found, naming the JSON field.</exception>
    public void Validate()
    {
        RequireText(ModelId, "modelId");
        RequireText(ModelVersion, "modelVersion");
        RequireText(Version, "version");
        if (Source is null)
        {
            throw Invalid("source", "is missing.");
        }

        if (!DiscrepancyMetrics.TryParse(Metric, out _))
        {
            throw Invalid("metric", $"unknown metric '{Metric}'; valid names: cosine, l2, mean, max.");
        }

        if (!ExitDistribution.TryParseFamily(Family, out var family))
        {
            throw Invalid("family", $"unknown family '{Family}'; valid names: exp, gauss, gamma.");
        }

        if (!double.IsFinite(R) || (family is ExitFamily.Exp or ExitFamily.Gamma && R <= 0))
        {
            throw Invalid("r", $"{R.ToString(CultureInfo.InvariantCulture)} is not a valid parameter for the {Family} family (finite, and positive for exp and gamma).");
        }

        if (TotalLayers < 1)
        {
            throw Invalid("totalLayers", $"{TotalLayers} is below 1.");
        }

        if (ExitLayers is null)
        {
            throw Invalid("exitLayers", "is missing.");
        }

        var layerProblem = ExitLayersProblem(ExitLayers, TotalLayers);
        if (layerProblem is not null)
        {
            throw Invalid("exitLayers", layerProblem);
        }

        if (Thresholds is null || Thresholds.Length != ExitLayers.Length)
        {
            throw Invalid("thresholds", $"has {Thresholds?.Length.ToString(CultureInfo.InvariantCulture) ?? "no"} entries; exitLayers has {ExitLayers.Length}.");
        }

        int nanExit = Array.FindIndex(Thresholds, double.IsNaN);
        if (nanExit >= 0)
        {
            throw Invalid("thresholds", $"entry {nanExit} is NaN.");
        }

        if (!double.IsPositiveInfinity(Thresholds[^1]))
        {
            throw Invalid("thresholds", $"the last entry is {Thresholds[^1].ToString(CultureInfo.InvariantCulture)}; it must be Infinity so that the last exit always exits.");
        }

        if (ExpectedExitShares is null || ExpectedExitShares.Length != ExitLayers.Length)
        {
            throw Invalid("expectedExitShares", $"has {ExpectedExitShares?.Length.ToString(CultureInfo.InvariantCulture) ?? "no"} entries; exitLayers has {ExitLayers.Length}.");
        }

        int badShare = Array.FindIndex(ExpectedExitShares, share => !(share >= 0 && share <= 1));
        if (badShare >= 0)
        {
            throw Invalid("expectedExitShares", $"entry {badShare} is {ExpectedExitShares[badShare].ToString(CultureInfo.InvariantCulture)}, outside [0, 1].");
        }

        if (!(ExpectedLayerFraction >= 0 && ExpectedLayerFraction <= 1))
        {
            throw Invalid("expectedLayerFraction", $"{ExpectedLayerFraction.ToString(CultureInfo.InvariantCulture)} is outside [0, 1].");
        }

        if (SampleCount < 0)
        {
            throw Invalid("sampleCount", $"{SampleCount} is negative.");
        }
    }

    /// <inheritdoc/>
    public bool Equals(ThresholdSet? other) =>
        other is not null
        && ModelId == other.ModelId
        && ModelVersion == other.ModelVersion
        && Version == other.Version
        && Metric == other.Metric
        && Family == other.Family
        && R.Equals(other.R)
        && SequenceEqual(ExitLayers, other.ExitLayers)
        && TotalLayers == other.TotalLayers
        && SequenceEqual(Thresholds, other.Thresholds)
        && SampleCount == other.SampleCount
        && Source == other.Source
        && SequenceEqual(ExpectedExitShares, other.ExpectedExitShares)
        && ExpectedLayerFraction.Equals(other.ExpectedLayerFraction)
        && ForbidFirstExit == other.ForbidFirstExit
        && CreatedAt.Equals(other.CreatedAt);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ModelId, ModelVersion, Version, Metric, Family, R, TotalLayers, CreatedAt);

    /// <summary>Identifies the set for logs, e.g. "a1-libero@3 exp-r1.0-cosine (version 1f2e...)".</summary>
    public override string ToString() => $"{ModelId}@{ModelVersion} {Name} (version {Version})";

    private static bool SequenceEqual<T>(T[]? left, T[]? right) =>
        left is null ? right is null : right is not null && left.AsSpan().SequenceEqual(right);

    private static string? ExitLayersProblem(IReadOnlyList<int> exitLayers, int totalLayers)
    {
        if (totalLayers < 1)
        {
            return $"totalLayers is {totalLayers}; at least one layer is needed.";
        }

        if (exitLayers.Count == 0)
        {
            return "at least one exit layer is needed.";
        }

        for (int exit = 0; exit < exitLayers.Count; exit++)
        {
            int layer = exitLayers[exit];
            if (layer < 0 || layer >= totalLayers)
            {
                return $"layer {layer} (exit {exit}) is outside [0, {totalLayers}) for a model with totalLayers {totalLayers}.";
            }

            if (exit > 0 && layer <= exitLayers[exit - 1])
            {
                return $"layers must be strictly ascending, but exit {exit} has layer {layer} after {exitLayers[exit - 1]}.";
            }
        }

        return null;
    }

    private static void RequireText(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw Invalid(field, "is missing or empty.");
        }
    }

    private static InvalidDataException Invalid(string field, string problem) =>
        new($"Threshold set field '{field}': {problem}");
}
