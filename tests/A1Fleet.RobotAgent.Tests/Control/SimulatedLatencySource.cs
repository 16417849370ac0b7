using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>
/// A test double of the network hop only: answers each request after <see cref="Latency"/> of fake time, with
/// whatever <see cref="Respond"/> makes of the observation. The answer is completed from a fake timer, so
/// it lands exactly when the test advances time past it.
/// </summary>
internal sealed class SimulatedLatencySource(FakeTimeProvider time, DateTimeOffset loopStart, double controlHz) : IChunkSource
{
    private readonly List<ITimer> _timers = [];

    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(120);

    /// <summary>The "model": observation, tick at which it was captured, request number -> result.</summary>
    public Func<Observation, long, int, ChunkResult> Respond { get; set; } = (_, tick, _) => ChunkResult.Chunk(ReferenceMotion.Chunk(tick, 10, 20), 10, 8);

    public int Requests { get; private set; }

    public List<Task<ChunkResult>> Answers { get; } = [];

    public List<Observation> Observations { get; } = [];

    public Task<ChunkResult> RequestAsync(Observation observation, CancellationToken cancellationToken)
    {
        Requests++;
        Observations.Add(observation);
        var tick = (long)Math.Round((observation.CapturedAt - loopStart).TotalSeconds * controlHz);
        var result = Respond(observation, tick, Requests);
        if (Latency <= TimeSpan.Zero)
        {
            return Task.FromResult(result);
        }

        var answer = new TaskCompletionSource<ChunkResult>();
        Answers.Add(answer.Task);
        _timers.Add(time.CreateTimer(_ => answer.TrySetResult(result), null, Latency, Timeout.InfiniteTimeSpan));
        return answer.Task;
    }
}
