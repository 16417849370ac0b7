using System.Diagnostics;
using A1Fleet.Grains;
using A1Fleet.RobotGateway;
using Grpc.Core;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Bench.SimFleet;

/// <summary>
/// How a simulated robot behaves, in the agent's terms (robot-agent's ControlLoop): it executes a chunk of
/// <see cref="Chunk"/> steps at <see cref="ControlHz"/>, counted from the chunk's observation; it asks for the next one
/// when no more than half a chunk is left (RequestAheadShare 0.5); a request still in flight after a chunk's time is
/// abandoned (its answer could only arrive stale) and a fresh one goes out; after a refusal it asks again after the
/// hint (on a control tick, so at least one period later); after a failure, one control period later. Budget: observation to answer, measured at the robot.
/// </summary>
internal sealed record RobotPace(int Chunk, double ControlHz, double BudgetMs)
{
    public double ChunkSeconds => Chunk / ControlHz;

    /// <summary>Requests per second one robot makes while it is served in time.</summary>
    public double RequestsPerSecond => 1 / (ChunkSeconds * 0.5);
}

/// <summary>One robot's identity and lease on the gateway.</summary>
internal sealed class SimRobot(string id, string tag, string credential)
{
    public string Id { get; } = id;

    /// <summary>The phase's tag: tasks are assigned with the selector <c>tag:TAG</c>.</summary>
    public string Tag { get; } = tag;

    public Metadata Headers { get; } = RobotGatewayMetadata.BearerHeaders(credential);
    public long Epoch { get; set; }

    /// <summary>Stopwatch timestamp until which the robot holds executable actions.</summary>
    public long ActionsUntil;

    /// <summary>Periods without an executable action: [buffer ran out, next chunk arrived) in Stopwatch ticks.</summary>
    public List<(long From, long To)> Empty { get; } = [];

    /// <summary>Requests that failed (neither answered nor refused): when the failure came back (Stopwatch ticks) and what it was.</summary>
    public List<(long At, string Kind)> Failures { get; } = [];

    /// <summary>Every request: when it was sent and came back (Stopwatch ticks) and how (OK, REFUSED, the status code).</summary>
    public List<(long Sent, long Done, string Outcome)> Requests { get; } = [];
}

/// <summary>What a phase's robots saw, counted at the robots.</summary>
internal sealed class PhaseCounts
{
    public readonly Lock Gate = new();
    public List<double> Latencies { get; } = [];
    public int Within { get; set; }
    public int Refused { get; set; }
    public Dictionary<string, int> RefusalReasons { get; } = [];
    public int Errors { get; set; }
    public int Holds { get; set; }
    public string? FirstError { get; set; }
    public double Seconds { get; set; }

    public int Answered => Latencies.Count;
    public double GoodputPerSecond => Within / Seconds;
    public double WithinBudgetShare => Answered == 0 ? double.NaN : (double)Within / Answered;
    public double AnsweredShare => Answered + Refused + Errors == 0 ? double.NaN : (double)Answered / (Answered + Refused + Errors);
}

/// <summary>Binds robots through the gateway and drives them as <see cref="RobotPace"/> says.</summary>
internal static class SimRobots
{
    public static async Task BindAsync(P.RobotGateway.RobotGatewayClient client, SimRobot robot, string model, int stateDim, IReadOnlyList<string> cameras, double controlHz)
    {
        var registration = new AgentRegistration($"simbench-{robot.Id}", Embodiment.Franka, model, stateDim, 0, cameras, controlHz, [robot.Tag]);
        var reply = await client.BindAsync(registration.ToProto(robot.Id), robot.Headers, deadline: DateTime.UtcNow.AddSeconds(30));
        robot.Epoch = reply.Lease.Epoch;
    }

    /// <summary>
    /// Drives every robot from now until <paramref name="end"/> (Stopwatch ticks); answers to requests sent from
    /// <paramref name="countFrom"/> on are counted. Each robot starts as if a chunk had just arrived at a random moment of
    /// the last chunk period, so the fleet's requests are spread.
    /// </summary>
    public static async Task<PhaseCounts> DriveAsync(IReadOnlyList<CallInvoker> channels, IReadOnlyList<SimRobot> robots, RobotPace pace, string model, int stateDim,
        IReadOnlyList<string> cameras, IReadOnlyList<A1Fleet.ModelFormat.ObservationSample> samples, long countFrom, long end)
    {
        var counts = new PhaseCounts { Seconds = (end - countFrom) / (double)Stopwatch.Frequency };
        var f = Stopwatch.Frequency;
        var chunkTicks = (long)(pace.ChunkSeconds * f);
        var aheadTicks = chunkTicks / 2;
        var periodTicks = (long)(f / pace.ControlHz);
        var chunkTime = TimeSpan.FromSeconds(pace.ChunkSeconds);
        await Task.WhenAll(robots.Select((robot, index) => Task.Run(async () =>
        {
            var client = new P.RobotGateway.RobotGatewayClient(channels[index % channels.Count]);
            robot.ActionsUntil = Stopwatch.GetTimestamp() + aheadTicks + (long)(Random.Shared.NextDouble() * (chunkTicks - aheadTicks));
            var retryAt = 0L;
            for (var seq = 1L; ; seq++)
            {
                var next = Math.Max(robot.ActionsUntil - aheadTicks, retryAt);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Math.Min(next, end));
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                var sent = Stopwatch.GetTimestamp();
                if (sent >= end)
                {
                    break;
                }

                var s = samples[(int)((index * 7 + seq) % samples.Count)];
                P.ActReply? reply = null;
                RpcException? failure = null;
                try
                {
                    reply = await client.ActAsync(new P.ActRequest
                    {
                        RobotId = robot.Id,
                        Epoch = robot.Epoch,
                        // The arm reports the actions it still holds, as an agent does (whole control periods).
                        Observation = new Observation(seq, s.State, [.. s.Images], DateTimeOffset.UtcNow,
                            ActionsHeld: (int)Math.Clamp((robot.ActionsUntil - sent) / periodTicks, 0, pace.Chunk)).ToProto(),
                        ObservationAgeMs = Stopwatch.GetElapsedTime(sent).TotalMilliseconds,
                    }, robot.Headers, deadline: DateTime.UtcNow + chunkTime);
                }
                catch (RpcException e)
                {
                    failure = e;
                }

                var now = Stopwatch.GetTimestamp();
                var counted = sent >= countFrom;
                robot.Requests.Add((sent, now, failure is not null ? failure.StatusCode.ToString() : reply!.Status.ToString()));
                if (reply is { Status: P.ChunkStatus.Ok })
                {
                    // The chunk's actions run from its observation on; those whose ticks passed while it was in flight are skipped.
                    var until = sent + chunkTicks;
                    if (now > robot.ActionsUntil)
                    {
                        robot.Empty.Add((robot.ActionsUntil, now));
                    }

                    robot.ActionsUntil = Math.Max(robot.ActionsUntil, until);
                    retryAt = 0;
                }
                else if (reply is { Status: P.ChunkStatus.Refused })
                {
                    // The agent starts requests on its control ticks: at the earliest one period later.
                    retryAt = now + Math.Max(periodTicks, (long)(reply.RetryAfterMs / 1000.0 * f));
                }
                else if (reply is { Status: P.ChunkStatus.LeaseLost })
                {
                    // The agent binds again and asks at once.
                    try
                    {
                        await BindAsync(client, robot, model, stateDim, cameras, pace.ControlHz);
                    }
                    catch (RpcException)
                    {
                        retryAt = now + periodTicks;
                    }
                }
                else
                {
                    retryAt = now + periodTicks;
                    robot.Failures.Add((now, failure is not null ? $"{failure.StatusCode}: {Shorten(failure.Status.Detail)}" : $"{reply?.Status}: {Shorten(reply?.Error)}"));
                }

                if (!counted)
                {
                    continue;
                }

                lock (counts.Gate)
                {
                    switch (reply?.Status)
                    {
                        case P.ChunkStatus.Ok:
                            var ms = Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds;
                            counts.Latencies.Add(ms);
                            counts.Within += ms <= pace.BudgetMs ? 1 : 0;
                            break;
                        case P.ChunkStatus.Refused:
                            counts.Refused++;
                            var reason = reply.Error.Split(':')[0];
                            counts.RefusalReasons[reason] = counts.RefusalReasons.GetValueOrDefault(reason) + 1;
                            break;
                        case P.ChunkStatus.Hold or P.ChunkStatus.LeaseLost:
                            counts.Holds++;
                            break;
                        default:
                            counts.Errors++;
                            counts.FirstError ??= failure is not null ? $"{failure.StatusCode}: {failure.Status.Detail}" : $"{reply?.Status}: {reply?.Error}";
                            break;
                    }
                }
            }

            if (end > robot.ActionsUntil)
            {
                robot.Empty.Add((robot.ActionsUntil, end));
            }
        })));
        return counts;
    }

    /// <summary>Enough of a failure's text to tell its kinds apart in the bench's log.</summary>
    private static string Shorten(string? detail) => detail is null ? "" : detail.Length <= 90 ? detail : detail[..90];
}
