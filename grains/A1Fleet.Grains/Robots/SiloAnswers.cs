using System.Collections.Concurrent;

namespace A1Fleet.Grains.Robots;

/// <summary>
/// When each silo last answered an inference call for a model (actions or a refusal), as the robot grains of this silo
/// saw it, and its rhythm: how long a call to it has recently waited while it answered nothing else. The routers'
/// evidence that a silo is working on its queue rather than silent. One per silo process, shared by every robot grain
/// there (<see cref="InferenceRouter"/> decides hedges with it).
/// <para>A working silo answers in bursts (every row that leaves a batch at an exit at once), so a short silence says
/// nothing: under load four saturated silos went quiet for longer than the router's last look (a bare first exit before
/// the deadline) between bursts, and were hedged for it. Silence counts only once it is longer than the silo's own
/// recent waits (<see cref="SilentPastItsRhythm"/>).</para>
/// </summary>
/// <param name="time">The clock the timestamps come from (the rhythm fades on it).</param>
public sealed class SiloAnswers(TimeProvider time)
{
    /// <summary>How fast a long wait is forgotten: a silo's slow spell (a stall, a deep batch) stops excusing its silence within seconds.</summary>
    public static readonly TimeSpan RhythmHalfLife = TimeSpan.FromSeconds(5);

    /// <summary>How much longer than its recent longest wait a silo must be silent to count as silent.</summary>
    public const double SilenceFactor = 1.5;

    private readonly ConcurrentDictionary<(string Model, string Silo), Rhythm> _rhythms = new();

    /// <summary>
    /// A call to <paramref name="silo"/> for <paramref name="modelId"/>, sent at <paramref name="sentAt"/>, returned at
    /// <paramref name="answeredAt"/> (<see cref="TimeProvider"/> timestamps). Its wait while the silo answered nothing
    /// else (since the later of the call and the silo's previous answer) joins the silo's rhythm.
    /// </summary>
    public void Answered(string modelId, string silo, long sentAt, long answeredAt)
    {
        var frequency = time.TimestampFrequency;
        _rhythms.AddOrUpdate((modelId, silo),
            static (_, a) => new Rhythm(a.AnsweredAt, a.AnsweredAt - a.SentAt, a.AnsweredAt),
            static (_, old, a) =>
            {
                var wait = a.AnsweredAt - Math.Max(old.Last, a.SentAt);
                return new Rhythm(Math.Max(old.Last, a.AnsweredAt), Math.Max(wait, Fade(old, a.AnsweredAt, a.Frequency)), a.AnsweredAt);
            },
            (SentAt: Math.Min(sentAt, answeredAt), AnsweredAt: answeredAt, Frequency: frequency));
    }

    /// <summary>Whether <paramref name="silo"/> answered a call for <paramref name="modelId"/> after <paramref name="timestamp"/>.</summary>
    public bool AnsweredSince(string modelId, string silo, long timestamp) =>
        _rhythms.TryGetValue((modelId, silo), out var r) && r.Last > timestamp;

    /// <summary>
    /// Whether <paramref name="silo"/> has answered nothing for <paramref name="modelId"/> since the later of
    /// <paramref name="callSentAt"/> and its last answer, for longer than <see cref="SilenceFactor"/> times the longest wait
    /// it has recently made a call endure (fading with <see cref="RhythmHalfLife"/>). A silo never heard from is silent.
    /// </summary>
    public bool SilentPastItsRhythm(string modelId, string silo, long callSentAt)
    {
        var now = time.GetTimestamp();
        if (!_rhythms.TryGetValue((modelId, silo), out var r))
        {
            return true;
        }

        var silent = now - Math.Max(r.Last, callSentAt);
        return silent > SilenceFactor * Fade(r, now, time.TimestampFrequency);
    }

    private static long Fade(Rhythm r, long now, long frequency)
    {
        var seconds = Math.Max(0, now - r.LongestAt) / (double)frequency;
        return (long)(r.LongestWait * Math.Pow(0.5, seconds / RhythmHalfLife.TotalSeconds));
    }

    /// <param name="Last">The silo's latest answer.</param>
    /// <param name="LongestWait">The longest recent wait of a call while the silo answered nothing else, as of <paramref name="LongestAt"/>.</param>
    /// <param name="LongestAt">When <paramref name="LongestWait"/> was last set (it fades from there).</param>
    private sealed record Rhythm(long Last, long LongestWait, long LongestAt);
}
