namespace A1Fleet.Grains.Robots;

/// <summary>A robot's persisted state: small, changes on operator commands and binds, counters flushed on a timer.</summary>
[GenerateSerializer, Alias("a1.RobotState")]
public sealed class RobotState
{
    [Id(0)] public Embodiment? Embodiment { get; set; }
    [Id(1)] public string? ModelId { get; set; }
    [Id(2)] public RobotTask? Task { get; set; }
    [Id(3)] public bool EStopped { get; set; }
    [Id(4)] public double? LatencyBudgetMs { get; set; }
    [Id(5)] public string? AgentId { get; set; }
    [Id(6)] public long Epoch { get; set; }
    [Id(7)] public List<string> Tags { get; set; } = [];
    [Id(8)] public double ControlHz { get; set; }
    [Id(9)] public long Requests { get; set; }
    [Id(10)] public long Chunks { get; set; }
    [Id(11)] public long BudgetMisses { get; set; }
    [Id(12)] public long Holds { get; set; }
    [Id(13)] public long Errors { get; set; }
    [Id(14)] public AgentCounters? Agent { get; set; }
    [Id(15)] public DateTimeOffset? LastSeen { get; set; }
    [Id(16)] public long TaskVersion { get; set; }
    [Id(17)] public double ExitLayerSum { get; set; }
    [Id(18)] public string? EStoppedBy { get; set; }

    /// <summary>Incremented by each e-stop that stops a running robot; chunks and pushes carry it.</summary>
    [Id(19)] public long EStopGeneration { get; set; }

    /// <summary>After an operator's release to a named successor: only that agent may bind until <see cref="ReservedUntil"/>.</summary>
    [Id(20)] public string? ReservedFor { get; set; }

    [Id(21)] public DateTimeOffset? ReservedUntil { get; set; }

    /// <summary>Requests the inference grain refused (not now, with a retry hint).</summary>
    [Id(22)] public long Refusals { get; set; }

    /// <summary>Chunks whose depth was cut by their deadline rather than by the exit test.</summary>
    [Id(23)] public long ForcedExits { get; set; }
}
