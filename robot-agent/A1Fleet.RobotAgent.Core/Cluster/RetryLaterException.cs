namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// The fleet refused a call for now and said when to ask again (the robot gateway's per-robot request rate). Not a
/// lost lease and not a broken transport: the lease stays, the arm holds once it runs out of actions, and the next
/// request waits <see cref="RetryAfter"/>.
/// </summary>
public sealed class RetryLaterException : Exception
{
    public RetryLaterException(string message, TimeSpan retryAfter, Exception? inner = null)
        : base(message, inner) => RetryAfter = retryAfter;

    public RetryLaterException()
    {
    }

    public RetryLaterException(string message)
        : base(message)
    {
    }

    public RetryLaterException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public TimeSpan RetryAfter { get; }
}
