using A1Fleet.EarlyExit;
using A1Fleet.Grains;

namespace A1Fleet.Api.Contracts;

/// <summary>
/// Body of <c>POST /api/calibrations</c>. Null fields take <see cref="CalibrationRules"/>' defaults, the same a1ctl
/// and the calibration job use (<see cref="ToSpec"/>: families exp, r 1.0/0.7/0.4/0.1, the model's metric, exit-warm-k2,
/// 4 shards, holdout 0.25, bad data fails the job, batch 16, a generated job id). The dataset path is read by the GPU
/// silos, not by the caller.
/// </summary>
public sealed record StartCalibrationRequest(
    string ModelId,
    string Dataset,
    string[]? Families = null,
    double[]? Rs = null,
    string? Metric = null,
    string? Decode = null,
    int? Shards = null,
    double? HoldoutShare = null,
    bool? SkipBadData = null,
    string? MakeLive = null,
    int? BatchSize = null,
    string? JobId = null)
{
    /// <summary>The job spec, with the server's defaults for what the request leaves out.</summary>
    public CalibrationJobSpec ToSpec() => new(ModelId, Dataset, Families ?? [ExitDistribution.FamilyName(CalibrationRules.DefaultFamily)], Rs ?? [.. CalibrationRules.PaperRs], Metric,
        Decode ?? Decodings.Name(CalibrationRules.DefaultDecoding), Shards ?? CalibrationRules.DefaultShards, HoldoutShare ?? CalibrationRules.DefaultHoldoutShare,
        SkipBadData ?? CalibrationRules.DefaultSkipBadData, MakeLive, BatchSize ?? CalibrationRules.DefaultBatchSize);
}

/// <summary>
/// Body of <c>PUT /api/models/{id}/calibration-schedule</c>: the job to run every <see cref="EveryMinutes"/>
/// (fields as in <see cref="StartCalibrationRequest"/>, without the model id); the first run after
/// <see cref="FirstRunAfterSeconds"/> (default one period); with <see cref="OnlyWhenChanged"/> (default) a tick on
/// unchanged data does nothing.
/// </summary>
public sealed record SetCalibrationScheduleRequest(
    string Dataset,
    double EveryMinutes,
    double? FirstRunAfterSeconds = null,
    bool? OnlyWhenChanged = null,
    string[]? Families = null,
    double[]? Rs = null,
    string? Metric = null,
    string? Decode = null,
    int? Shards = null,
    double? HoldoutShare = null,
    bool? SkipBadData = null,
    string? MakeLive = null,
    int? BatchSize = null)
{
    /// <summary>The scheduled job for <paramref name="modelId"/>, with the same defaults as <see cref="StartCalibrationRequest"/>.</summary>
    public CalibrationJobSpec ToSpec(string modelId) =>
        new StartCalibrationRequest(modelId, Dataset, Families, Rs, Metric, Decode, Shards, HoldoutShare, SkipBadData, MakeLive, BatchSize).ToSpec();
}
