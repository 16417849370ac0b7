namespace A1Fleet.Grains;

/// <summary>
/// A bind refused because another agent holds the robot's lease and is alive (it heartbeats). The holder keeps
/// the arm; the caller should wait (until <see cref="ExpiresAt"/> at the earliest) or ask an operator to release the lease.
/// </summary>
[GenerateSerializer, Alias("a1.LeaseHeldException")]
public sealed class LeaseHeldException : Exception
{
    public LeaseHeldException(string robotId, string holderAgentId, DateTimeOffset expiresAt)
        : base($"robot '{robotId}' is held by agent '{holderAgentId}' (lease alive until {expiresAt:O} unless it heartbeats): " +
               "refusing to hand it to a second agent; stop the other agent or have an operator release the lease")
    {
        RobotId = robotId;
        HolderAgentId = holderAgentId;
        ExpiresAt = expiresAt;
    }

    public LeaseHeldException()
    {
        RobotId = "";
        HolderAgentId = "";
    }

    public LeaseHeldException(string message)
        : base(message)
    {
        RobotId = "";
        HolderAgentId = "";
    }

    public LeaseHeldException(string message, Exception innerException)
        : base(message, innerException)
    {
        RobotId = "";
        HolderAgentId = "";
    }

    [Id(0)] public string RobotId { get; init; }

    [Id(1)] public string HolderAgentId { get; init; }

    [Id(2)] public DateTimeOffset ExpiresAt { get; init; }
}
