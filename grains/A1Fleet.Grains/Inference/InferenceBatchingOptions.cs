using A1Fleet.EarlyExit;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Inference;

/// <summary>How inference grains queue, batch and decode robots' requests. Section "A1Fleet:Inference:Batching".</summary>
public sealed class InferenceBatchingOptions
{
    public const string SectionName = "A1Fleet:Inference:Batching";

    /// <summary>Largest batch an inference grain launches.</summary>
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>
    /// Longest an inference grain holds a request to gather a batch while the device is idle. Zero (default)
    /// launches at once: batches still form from requests that arrive while a batch runs, and an idle
    /// fleet pays no waiting. Raise it to trade latency for larger batches when budgets allow.
    /// </summary>
    public TimeSpan MaxGather { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Most requests an inference grain keeps queued (not yet in a batch); past it new ones are refused at once
    /// ("queue_full", with a retry hint). Bounds the silo's memory per model: each holds one observation.
    /// </summary>
    public int MaxQueuedRequests { get; set; } = 256;

    /// <summary>
    /// Most requests one robot may have queued at an inference grain; more are refused ("robot_share"). An agent
    /// keeps one request in flight, so 2 leaves room for a retry racing its predecessor and no room to flood.
    /// </summary>
    public int MaxQueuedPerRobot { get; set; } = 2;

    /// <summary>
    /// Kept free before a deadline for transport and the robot's own work. A robot grain also keeps it when deciding
    /// to hedge: the next silo is asked once only a first exit there (plus this margin) would still make the deadline.
    /// </summary>
    public TimeSpan DeadlineMargin { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Decoding for robot requests (configured by name: exit-warm-k2, the A1 default; exit-cold-k2; exit-cold-k10; full-k10).</summary>
    public Decoding Decode { get; set; } = Decodings.Default;

    /// <summary>How often inference grains look for a new live threshold version.</summary>
    public TimeSpan ThresholdRefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}

public sealed class InferenceBatchingOptionsValidator : IValidateOptions<InferenceBatchingOptions>
{
    private const string Section = InferenceBatchingOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, InferenceBatchingOptions o)
    {
        var errors = new List<string>();
        if (o.MaxBatchSize is < 1 or > 1024)
        {
            errors.Add($"{Section}:MaxBatchSize {o.MaxBatchSize} must be within 1..1024.");
        }

        if (o.MaxQueuedRequests is < 1 or > 100_000)
        {
            errors.Add($"{Section}:MaxQueuedRequests {o.MaxQueuedRequests} must be within 1..100000 (default 256).");
        }

        if (o.MaxQueuedPerRobot < 1 || o.MaxQueuedPerRobot > o.MaxQueuedRequests)
        {
            errors.Add($"{Section}:MaxQueuedPerRobot {o.MaxQueuedPerRobot} must be within 1..MaxQueuedRequests ({o.MaxQueuedRequests}) (default 2).");
        }

        if (o.MaxGather < TimeSpan.Zero || o.MaxGather > TimeSpan.FromSeconds(1))
        {
            errors.Add($"{Section}:MaxGather {o.MaxGather} must be within 00:00:00..00:00:01 (default 00:00:00: launch at once).");
        }

        if (o.DeadlineMargin < TimeSpan.Zero || o.DeadlineMargin > TimeSpan.FromSeconds(1))
        {
            errors.Add($"{Section}:DeadlineMargin {o.DeadlineMargin} must be within 00:00:00..00:00:01 (default 00:00:00.005).");
        }

        if (!Enum.IsDefined(o.Decode))
        {
            errors.Add($"{Section}:Decode {(int)o.Decode} is not a decoding: use one of {string.Join(", ", Decodings.Names())}.");
        }

        if (o.ThresholdRefreshInterval <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:ThresholdRefreshInterval {o.ThresholdRefreshInterval} must be positive (default 00:00:02).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
