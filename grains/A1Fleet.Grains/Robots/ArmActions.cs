namespace A1Fleet.Grains.Robots;

/// <summary>
/// When the actions a robot grain last issued run out at the arm, on the grain's clock: the agent executes action k of
/// a chunk on the k-th control tick after the chunk's observation, so a chunk of H actions lasts H periods from that
/// observation's capture (its arrival here less the age it arrived with); an agent that just bound holds nothing. What
/// the agent reports it held at a capture (<see cref="Reported"/>) replaces the estimate: it knows of chunks it dropped,
/// and of those it held before this grain issued any. Kept in memory only: after a reactivation, or for a robot with no
/// control rate, it is unknown until the next chunk or report.
/// </summary>
public sealed class ArmActions(TimeProvider time)
{
    private long? _runOutAt;

    /// <summary>A chunk of <paramref name="steps"/> actions at <paramref name="controlHz"/> was issued for an observation that arrived at <paramref name="arrivedTicks"/>, <paramref name="ageMs"/> old.</summary>
    public void Issued(long arrivedTicks, double ageMs, int steps, double controlHz)
    {
        if (!(controlHz > 0) || steps <= 0 || !double.IsFinite(ageMs))
        {
            return;
        }

        // A chunk answered after a newer one (a hedge's loser) never shortens what the arm holds.
        var runOut = RunOut(arrivedTicks, ageMs, steps, controlHz);
        _runOutAt = _runOutAt is { } known ? Math.Max(known, runOut) : runOut;
    }

    /// <summary>
    /// The agent held <paramref name="actions"/> actions to execute, one per period of <paramref name="controlHz"/>, when it
    /// captured an observation that arrived at <paramref name="arrivedTicks"/>, <paramref name="ageMs"/> old.
    /// </summary>
    public void Reported(long arrivedTicks, double ageMs, int actions, double controlHz)
    {
        if (!(controlHz > 0) || actions < 0 || !double.IsFinite(ageMs))
        {
            return;
        }

        _runOutAt = RunOut(arrivedTicks, ageMs, actions, controlHz);
    }

    /// <summary>When <paramref name="actions"/> at <paramref name="controlHz"/> run out, counted from the capture of an observation that arrived at <paramref name="arrivedTicks"/>, <paramref name="ageMs"/> old.</summary>
    private long RunOut(long arrivedTicks, double ageMs, int actions, double controlHz) =>
        arrivedTicks - (long)(Math.Max(0, ageMs) / 1000.0 * time.TimestampFrequency) + (long)(actions / controlHz * time.TimestampFrequency);

    /// <summary>
    /// An agent bound at <paramref name="nowTicks"/>: it holds no chunk of this grain's yet, so with a control rate its arm
    /// has nothing left to move on (what a previous agent held says nothing about it); without one, unknown.
    /// </summary>
    public void Bound(long nowTicks, double controlHz) => _runOutAt = controlHz > 0 ? nowTicks : null;

    /// <summary>How long the arm can still move on what it holds at <paramref name="nowTicks"/> (0 once run out); null when unknown.</summary>
    public double? LeftMs(long nowTicks) => _runOutAt is { } runOut ? Math.Max(0, time.GetElapsedTime(nowTicks, runOut).TotalMilliseconds) : null;
}
