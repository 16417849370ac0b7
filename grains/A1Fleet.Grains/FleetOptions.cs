using Microsoft.Extensions.Options;

namespace A1Fleet.Grains;

/// <summary>Fleet behaviour shared by robot, inference and fleet grains. Section "A1Fleet:Fleet".</summary>
public sealed class FleetOptions
{
    public const string SectionName = "A1Fleet:Fleet";
    public const string StorageName = "a1fleet";

    /// <summary>Latency budget a robot gets until an operator sets one (ms, observation to chunk).</summary>
    public double DefaultLatencyBudgetMs { get; set; } = 200;

    /// <summary>Largest batch an inference grain launches.</summary>
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>
    /// Longest an inference grain holds a request to gather a batch while the device is idle. 0 (default)
    /// launches at once: batches still form from requests that arrive while a batch runs, and an idle
    /// fleet pays no waiting. Raise it to trade latency for larger batches when budgets allow.
    /// </summary>
    public double MaxGatherMs { get; set; }

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
    /// Kept free before a deadline for transport and the robot's own work (ms). A robot grain also keeps it when deciding
    /// to hedge: the next silo is asked once only a first exit there (plus this margin) would still make the deadline.
    /// </summary>
    public double DeadlineMarginMs { get; set; } = 5;

    /// <summary>Decoding for robot requests: "exit-warm-k2" (A1 default), "exit-cold-k2", "exit-cold-k10", "full-k10".</summary>
    public string Decode { get; set; } = "exit-warm-k2";

    /// <summary>How often inference grains look for a new live threshold version.</summary>
    public TimeSpan ThresholdRefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often robot grains persist their counters.</summary>
    public TimeSpan CounterFlushInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Period of the reminder a running calibration job keeps: the longest a job whose coordinator's
    /// silo died waits (after the cluster declares the silo dead) before it resumes on a survivor by
    /// itself. 1 minute is Orleans' minimum reminder period; a shorter value lowers that minimum to
    /// match (Orleans then logs that fast reminders are unsuitable for production), which suits tests.
    /// </summary>
    public TimeSpan CalibrationReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a robot's lease stays alive without an Act or Heartbeat from its holder. While alive, a bind
    /// from another agent is refused and the robot shows online; past it the lease lapses by itself (the next
    /// bind from anyone wins) and commands skip the push to the silent agent. Agents heartbeat well inside it.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a lease released to a named successor (a take) waits for that agent's bind before anyone may bind.</summary>
    public TimeSpan LeaseReservation { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Standing assignments the fleet keeps; past it the oldest is dropped (it has long been replaced).</summary>
    public int MaxAssignmentsKept { get; set; } = 1000;
}

public sealed class FleetOptionsValidator : IValidateOptions<FleetOptions>
{
    public ValidateOptionsResult Validate(string? name, FleetOptions o)
    {
        var errors = new List<string>();
        if (InputRules.LatencyBudget(o.DefaultLatencyBudgetMs, field: "A1Fleet:Fleet:DefaultLatencyBudgetMs") is { } budget)
        {
            errors.Add(budget + ".");
        }

        if (o.MaxBatchSize is < 1 or > 1024)
        {
            errors.Add($"A1Fleet:Fleet:MaxBatchSize {o.MaxBatchSize} must be within 1..1024.");
        }

        if (o.MaxQueuedRequests is < 1 or > 100_000)
        {
            errors.Add($"A1Fleet:Fleet:MaxQueuedRequests {o.MaxQueuedRequests} must be within 1..100000 (default 256).");
        }

        if (o.MaxQueuedPerRobot < 1 || o.MaxQueuedPerRobot > o.MaxQueuedRequests)
        {
            errors.Add($"A1Fleet:Fleet:MaxQueuedPerRobot {o.MaxQueuedPerRobot} must be within 1..MaxQueuedRequests ({o.MaxQueuedRequests}) (default 2).");
        }

        if (o.MaxGatherMs < 0 || o.DeadlineMarginMs < 0)
        {
            errors.Add("A1Fleet:Fleet:MaxGatherMs and DeadlineMarginMs must not be negative.");
        }

        if (!Engine.Inference.DecodeSettings.Named.ContainsKey(o.Decode))
        {
            errors.Add($"A1Fleet:Fleet:Decode '{o.Decode}' is unknown: use one of {string.Join(", ", Engine.Inference.DecodeSettings.Named.Keys)}.");
        }

        if (o.ThresholdRefreshInterval <= TimeSpan.Zero || o.CounterFlushInterval <= TimeSpan.Zero)
        {
            errors.Add("A1Fleet:Fleet:ThresholdRefreshInterval and CounterFlushInterval must be positive.");
        }

        if (o.CalibrationReminderPeriod < TimeSpan.FromSeconds(1) || o.CalibrationReminderPeriod > TimeSpan.FromHours(1))
        {
            errors.Add($"A1Fleet:Fleet:CalibrationReminderPeriod {o.CalibrationReminderPeriod} must be within 00:00:01..01:00:00 (default 00:01:00).");
        }

        if (o.LeaseTtl < TimeSpan.FromMilliseconds(500) || o.LeaseTtl > TimeSpan.FromMinutes(5))
        {
            errors.Add($"A1Fleet:Fleet:LeaseTtl {o.LeaseTtl} must be within 00:00:00.5..00:05:00 (default 00:00:05): shorter than a few control periods loses live agents, longer keeps a dead agent's robot for minutes.");
        }

        if (o.LeaseReservation < o.LeaseTtl || o.LeaseReservation > TimeSpan.FromHours(1))
        {
            errors.Add($"A1Fleet:Fleet:LeaseReservation {o.LeaseReservation} must be within LeaseTtl ({o.LeaseTtl})..01:00:00 (default 00:00:30).");
        }

        if (o.MaxAssignmentsKept is < 1 or > 100_000)
        {
            errors.Add($"A1Fleet:Fleet:MaxAssignmentsKept {o.MaxAssignmentsKept} must be within 1..100000 (default 1000).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
