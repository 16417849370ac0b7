namespace A1Fleet.RobotAgent.Control;

/// <summary>How the control loop overlaps inference with execution; see <see cref="AgentOptions"/> for the documented defaults.</summary>
public sealed record ControlLoopOptions
{
    /// <summary>Ask for the next chunk when this share of the current chunk (of the model's H steps) is left.</summary>
    public double RequestAheadShare { get; init; } = 0.5;

    /// <summary>Steps over which a new chunk is blended into what is left of the old one; 0 switches at once.</summary>
    public int BlendSteps { get; init; } = 3;

    /// <summary>How often to ask again while the fleet says hold (no task, e-stopped); pushes cut the wait short.</summary>
    public TimeSpan HoldPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Refuse a chunk whose own motion between two consecutive actions needs more than this multiple of a joint's
    /// velocity limit; 0 (default) refuses none and slows every chunk to the limits instead.
    /// </summary>
    public double RejectSpeedFactor { get; init; }
}
