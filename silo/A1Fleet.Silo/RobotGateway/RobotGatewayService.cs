using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using A1Fleet.Grains;
using A1Fleet.RobotGateway;
using A1Fleet.Silo.Hosting;
using A1Fleet.Silo.Security;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>
/// The robot gateway: a thin, authenticated translation of the published protocol onto <see cref="IRobotGrain"/>.
/// The robot comes from the credential (checked on every call), never from the request; the observation's shape is
/// checked against the robot's model before the grain sees it. Leases, e-stops and batching stay the grain's business.
/// </summary>
public sealed partial class RobotGatewayService(
    IGrainFactory grains,
    IServiceProvider services,
    CommandStreams streams,
    RobotAdmission admission,
    RobotGatewayInstruments instruments,
    IOptions<RobotGatewayOptions> options,
    TimeProvider time,
    ILogger<RobotGatewayService> logger) : P.RobotGateway.RobotGatewayBase
{
    // Optional so a silo without credentials still starts; then every call is refused (fail closed).
    private readonly IRobotCredentialValidator? _credentials = services.GetService<IRobotCredentialValidator>();

    // Optional: only a silo host has one (a failed call makes it check whether a silo's process is gone).
    private readonly RefusedSiloDetector? _deadSilos = services.GetService<RefusedSiloDetector>();

    public override Task<P.BindReply> Bind(P.BindRequest request, ServerCallContext context) => Observe("Bind", async () =>
    {
        var robotId = await AuthorizeAsync(request.RobotId, context);
        var embodiment = request.Embodiment.FromProto() ?? throw Invalid("embodiment", $"{request.Embodiment} is not an embodiment this fleet knows");
        if (string.IsNullOrWhiteSpace(request.AgentId))
        {
            throw Invalid("agent_id", "is empty: an agent must name itself to bind");
        }

        if (string.IsNullOrWhiteSpace(request.ModelId))
        {
            throw Invalid("model_id", "is empty");
        }

        if (!double.IsFinite(request.ControlHz) || request.ControlHz <= 0)
        {
            throw Invalid("control_hz", $"{request.ControlHz} must be a positive number of ticks per second");
        }

        var registration = new AgentRegistration(request.AgentId, embodiment, request.ModelId, request.StateDim, request.ActionDim,
            [.. request.Cameras], request.ControlHz, [.. request.Tags]);
        RobotLease lease;
        try
        {
            lease = await grains.GetGrain<IRobotGrain>(robotId).Bind(registration, null, context.CancellationToken);
        }
        catch (LeaseHeldException held)
        {
            LogBindRefused(robotId, request.AgentId, held.HolderAgentId);
            throw RobotGatewayMetadata.LeaseHeld(held);
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"bind for robot '{robotId}': {ex.Message}"));
        }

        streams.RememberModel(robotId, lease.Epoch, lease.Model);
        LogBound(robotId, request.AgentId, lease.Epoch);
        return new P.BindReply { Lease = lease.ToProto() };
    });

    public override Task<P.ActReply> Act(P.ActRequest request, ServerCallContext context) => Observe("Act", async () =>
    {
        // The deadline is anchored here, on this silo's monotonic clock: arrival less the age the agent measured on its own.
        var arrived = time.GetTimestamp();
        var robotId = await AuthorizeAsync(request.RobotId, context);
        if (InputRules.ObservationAge(request.ObservationAgeMs) is { } badAge)
        {
            throw Invalid("observation_age_ms", badAge);
        }

        var robot = grains.GetGrain<IRobotGrain>(robotId);
        var observation = request.Observation ?? throw Invalid("observation", "is missing");
        if (await ModelAsync(robotId, request.Epoch, robot) is { } model && ObservationShape.Check(observation, model) is { } problem)
        {
            throw Invalid(problem.Field, problem.Message);
        }

        var age = request.ObservationAgeMs + time.GetElapsedTime(arrived).TotalMilliseconds;
        var chunk = await robot.Act(request.Epoch, observation.FromProto() with { AgeMs = age }, context.CancellationToken);
        if (chunk.ObserverMissing && streams.Find(robotId, request.Epoch) is { Reference: { } observer })
        {
            // The grain moved and forgot the stream's observer; this silo holds the stream, so it can answer for the agent.
            await robot.Subscribe(request.Epoch, observer);
            chunk = chunk with { ObserverMissing = false };
        }

        return chunk.ToProto();
    });

    public override Task<P.HeartbeatReply> Heartbeat(P.HeartbeatRequest request, ServerCallContext context) => Observe("Heartbeat", async () =>
    {
        var robotId = await AuthorizeAsync(request.RobotId, context);
        return new P.HeartbeatReply { Held = await grains.GetGrain<IRobotGrain>(robotId).Heartbeat(request.Epoch) };
    });

    public override Task<P.ReportCountersReply> ReportCounters(P.ReportCountersRequest request, ServerCallContext context) => Observe("ReportCounters", async () =>
    {
        var robotId = await AuthorizeAsync(request.RobotId, context);
        var counters = request.Counters ?? throw Invalid("counters", "is missing");
        if (!double.IsFinite(counters.MaxSpliceJump) || counters.MaxSpliceJump < 0)
        {
            // The fleet's views aggregate these; one NaN would poison every mean and max it reaches.
            throw Invalid("counters.max_splice_jump", $"is {counters.MaxSpliceJump}; it must be a finite distance, zero or more");
        }

        if (counters.ControlTicks < 0 || counters.HoldTicks < 0 || counters.ClampedActions < 0 || counters.IdleGaps < 0 || counters.ChunksExecuted < 0
            || counters.Episodes < 0 || counters.Successes < 0)
        {
            throw Invalid("counters", "a count is negative");
        }

        if (counters.Successes > counters.Episodes)
        {
            throw Invalid("counters.successes", $"is {counters.Successes}, more than the {counters.Episodes} episodes reported");
        }

        await grains.GetGrain<IRobotGrain>(robotId).ReportAgentCounters(request.Epoch, counters.FromProto());
        return new P.ReportCountersReply();
    });

    public override Task Commands(P.CommandsRequest request, IServerStreamWriter<P.RobotCommand> responseStream, ServerCallContext context) => Observe("Commands", async () =>
    {
        var robotId = await AuthorizeAsync(request.RobotId, context);
        var key = RobotGatewayMetadata.BearerKey(context.RequestHeaders)!;
        var robot = grains.GetGrain<IRobotGrain>(robotId);
        var stream = new CommandStream(robotId, request.Epoch);
        stream.Reference = grains.CreateObjectReference<IRobotAgentObserver>(stream);
        streams.Open(stream);
        instruments.OnStreamOpened();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        try
        {
            // Response headers tell the client the stream is live: registered above, it takes the robot grain's
            // commands from here on through this silo's relay, before the grain answers (after a silo loss it may
            // take seconds to reactivate), and through the grain's observer once the first check subscribed it.
            await context.WriteResponseHeadersAsync([]);

            // The first check subscribes; a bind in between leaves the subscription unused, and the check ends the stream.
            var checks = CheckPeriodicallyAsync(stream, key, robot, stop.Token);
            LogStreamOpened(robotId, request.Epoch);
            await foreach (var command in stream.Commands.ReadAllAsync(context.CancellationToken))
            {
                await responseStream.WriteAsync(command.ToProto(), context.CancellationToken);
                if (command.Kind == RobotCommandKind.LeaseRevoked && command.Epoch > request.Epoch)
                {
                    throw LeaseLost(robotId, request.Epoch, $"another agent bound at epoch {command.Epoch}");
                }
            }

            await stop.CancelAsync();
            await checks;
            return true;
        }
        catch (ChannelClosedException closed) when (closed.InnerException is RpcException reason)
        {
            throw reason;
        }
        finally
        {
            await stop.CancelAsync();
            streams.Close(stream);
            grains.DeleteObjectReference<IRobotAgentObserver>(stream.Reference);
            instruments.OnStreamClosed();
            LogStreamClosed(robotId, request.Epoch);
        }
    });

    /// <summary>
    /// Ends the stream when its credential is revoked or its epoch no longer holds the robot (one check interval after
    /// a newer epoch was first seen: see below). A check that cannot get
    /// an answer (the grain's silo died and it has not reactivated yet) does not end it: the stream stays where the
    /// relay can reach it, and the check is tried again soon, subscribing again once the grain answers.
    /// </summary>
    private async Task CheckPeriodicallyAsync(CommandStream stream, string key, IRobotGrain robot, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.StreamCheckSeconds);
        var retry = TimeSpan.FromTicks(Math.Min(interval.Ticks, CheckRetry.Ticks));
        var eStopSent = 0L;
        var overtaken = false;
        try
        {
            while (true)
            {
                var answered = false;
                try
                {
                    var identity = _credentials is null ? null : await _credentials.ValidateAsync(key, cancellationToken).AsTask().WaitAsync(CheckCallTimeout, time, cancellationToken);
                    if (identity is null || identity.RobotId != stream.RobotId)
                    {
                        stream.End(new RpcException(new Status(StatusCode.Unauthenticated, $"the robot credential for robot '{stream.RobotId}' was revoked")));
                        return;
                    }

                    var status = await robot.GetStatus().WaitAsync(CheckCallTimeout, time, cancellationToken);
                    if (status.Epoch != stream.Epoch)
                    {
                        if (status.Epoch > stream.Epoch && !overtaken)
                        {
                            // The lease moved on: most often this very agent bound again and is opening the new epoch's
                            // stream, which replaces this one once registered. Until then this one stays, one check
                            // interval at most, for what is safe to deliver to any epoch (an e-stop; a resume only goes
                            // to its own epoch): ended now, an e-stop recorded in that gap would find no stream.
                            overtaken = true;
                            await Task.Delay(interval, time, cancellationToken);
                            continue;
                        }

                        stream.End(LeaseLost(stream.RobotId, stream.Epoch, $"the robot's lease is at epoch {status.Epoch}"));
                        return;
                    }

                    overtaken = false;

                    // Every check: the grain may have reactivated on another silo since (its old silo died) and forgotten
                    // this observer; subscribing again is idempotent.
                    await robot.Subscribe(stream.Epoch, stream.Reference!).WaitAsync(CheckCallTimeout, time, cancellationToken);

                    if (status.EStopped && status.EStopGeneration > eStopSent)
                    {
                        // An e-stop recorded while this stream was not subscribed (at its opening, or while its grain was
                        // reactivating elsewhere) reaches the agent now, not on its next request. Repeats are harmless.
                        await stream.OnCommand(new RobotCommand(RobotCommandKind.EStop, status.Task, status.LatencyBudgetMs, stream.Epoch, status.EStopGeneration));
                        eStopSent = status.EStopGeneration;
                    }

                    answered = true;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    LogStreamCheckFailed(ex, stream.RobotId, stream.Epoch);
                }

                await Task.Delay(answered ? interval : retry, time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Longest one call of a stream check may take before the check counts as failed and is tried again.</summary>
    private static readonly TimeSpan CheckCallTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How soon a failed check is tried again (at most the check interval).</summary>
    private static readonly TimeSpan CheckRetry = TimeSpan.FromMilliseconds(250);

    /// <summary>The robot's model for <paramref name="epoch"/>: remembered from a bind through this silo, else asked of the grains.</summary>
    private async Task<ModelSpec?> ModelAsync(string robotId, long epoch, IRobotGrain robot)
    {
        if (streams.Model(robotId, epoch) is { } known)
        {
            return known;
        }

        var status = await robot.GetStatus();
        if (status.Epoch != epoch || status.ModelId is null)
        {
            // A stale epoch: the grain answers LeaseLost without looking at the observation.
            return null;
        }

        var model = await grains.GetGrain<IModelGrain>(status.ModelId).GetSpec();
        if (model is not null)
        {
            streams.RememberModel(robotId, epoch, model);
        }

        return model;
    }

    /// <summary>
    /// The credential's robot. A request naming another robot is refused; an empty robot_id means the credential's.
    /// Then the robot's request rate: over it, RESOURCE_EXHAUSTED with the wait in a trailer, before any grain is asked.
    /// </summary>
    private async Task<string> AuthorizeAsync(string requestedRobotId, ServerCallContext context)
    {
        var identified = await admission.IdentifyAsync(RobotGatewayMetadata.BearerKey(context.RequestHeaders), "send the metadata 'authorization: Bearer <robot credential>'", context.CancellationToken);
        if (!identified.Admitted)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, identified.Message!));
        }

        var robotId = identified.RobotId!;
        if (requestedRobotId.Length > 0 && !string.Equals(requestedRobotId, robotId, StringComparison.Ordinal))
        {
            LogCrossRobot(identified.CredentialId!, robotId);
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"robot_id: this credential speaks for robot '{robotId}' only, not for the robot the request names"));
        }

        var limited = admission.Limit(identified);
        if (limited.RetryAfter is { } retryAfter)
        {
            LogRateLimited(robotId, retryAfter.TotalMilliseconds);
            throw RobotGatewayMetadata.RateLimited(limited.Message!, retryAfter);
        }

        return robotId;
    }

    private async Task<T> Observe<T>(string method, Func<Task<T>> call)
    {
        try
        {
            T result;
            try
            {
                result = await call();
            }
            catch (OrleansMessageRejectionException ex) when (_deadSilos is not null)
            {
                result = await SendAgainAsync(call, ex, _deadSilos.SuspectAsync, time, rejected => LogSentAgain(rejected, method));
            }

            instruments.OnCall(method, StatusCode.OK);
            return result;
        }
        catch (RpcException ex)
        {
            instruments.OnCall(method, ex.StatusCode);
            throw;
        }
        catch (OperationCanceledException)
        {
            instruments.OnCall(method, StatusCode.Cancelled);
            throw;
        }
        catch (Exception ex)
        {
            // Silo failover, a grain timeout: the agent retries (and binds again when the lease is gone).
            LogFleetUnavailable(ex, method);
            instruments.OnCall(method, StatusCode.Unavailable);
            // The grain may have lived on a silo whose process is gone: declared dead, it reactivates here on the retry.
            _deadSilos?.Suspect();
            throw new RpcException(new Status(StatusCode.Unavailable, $"{method}: the fleet could not answer ({ex.GetType().Name}: {ex.Message})"));
        }
    }

    /// <summary>Most times a call rejected for a silo just declared dead is sent again.</summary>
    internal const int MaxSendsAgain = 3;

    /// <summary>Pause before the second send again (the third waits twice as long; the first goes at once).</summary>
    internal static readonly TimeSpan SendAgainPause = TimeSpan.FromMilliseconds(15);

    /// <summary>
    /// The grain may have lived on a silo whose process is gone. Once that silo is declared dead the grain activates on a
    /// live one, so the call goes again at once instead of costing the robot a failure and a retry. Right after the
    /// verdict the cluster may still route it to the dead silo for a moment (seen: a call sent again at once rejected a
    /// second time 170 ms after a SIGKILL, and the robot's own retry 50 ms later served), so up to
    /// <see cref="MaxSendsAgain"/> sends, a short pause apart, while the verdict is recent. Every gateway call is safe to
    /// repeat (a bind takes the lease afresh; the rest carry the epoch). Built only when a call was rejected so.
    /// </summary>
    /// <param name="justDeclaredDead">Whether a silo was declared dead recently (<see cref="RefusedSiloDetector.SuspectAsync"/>).</param>
    internal static async Task<T> SendAgainAsync<T>(Func<Task<T>> call, OrleansMessageRejectionException rejected, Func<Task<bool>> justDeclaredDead,
        TimeProvider time, Action<Exception> sendingAgain)
    {
        if (!await justDeclaredDead())
        {
            ExceptionDispatchInfo.Throw(rejected);
        }

        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = async args => args.Outcome.Exception is OrleansMessageRejectionException && await justDeclaredDead(),
                MaxRetryAttempts = MaxSendsAgain - 1,
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(SendAgainPause * (args.AttemptNumber + 1)),
                OnRetry = args =>
                {
                    sendingAgain(args.Outcome.Exception!);
                    return default;
                },
            })
            .Build();
        sendingAgain(rejected);
        return await pipeline.ExecuteAsync(static async (send, _) => await send(), call);
    }

    private static RpcException Invalid(string field, string message) =>
        new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"), new Metadata { { "a1-field", field } });

    private static RpcException LeaseLost(string robotId, long epoch, string why) =>
        new(new Status(StatusCode.FailedPrecondition, $"robot '{robotId}': lease epoch {epoch} lost ({why}); bind again"));

    [LoggerMessage(EventId = 800, Level = LogLevel.Information, Message = "Robot gateway: robot {RobotId} bound by agent {AgentId} at epoch {Epoch}")]
    private partial void LogBound(string robotId, string agentId, long epoch);

    [LoggerMessage(EventId = 801, Level = LogLevel.Warning, Message = "Robot gateway: bind of robot {RobotId} by agent {AgentId} refused: agent {HolderAgentId} holds a live lease")]
    private partial void LogBindRefused(string robotId, string agentId, string holderAgentId);

    [LoggerMessage(EventId = 802, Level = LogLevel.Warning, Message = "Robot gateway: credential {CredentialId} of robot {RobotId} asked for another robot; refused")]
    private partial void LogCrossRobot(string credentialId, string robotId);

    [LoggerMessage(EventId = 803, Level = LogLevel.Information, Message = "Robot gateway: Commands stream of robot {RobotId} opened for epoch {Epoch}")]
    private partial void LogStreamOpened(string robotId, long epoch);

    [LoggerMessage(EventId = 804, Level = LogLevel.Information, Message = "Robot gateway: Commands stream of robot {RobotId} for epoch {Epoch} closed")]
    private partial void LogStreamClosed(string robotId, long epoch);

    // Debug: a flooding robot would otherwise flood the log too; a1fleet_robot_gateway_calls_total{status="resource_exhausted"} counts them.
    [LoggerMessage(EventId = 806, Level = LogLevel.Debug, Message = "Robot gateway: robot {RobotId} is over its request rate; refused, retry after {RetryAfterMs:0} ms")]
    private partial void LogRateLimited(string robotId, double retryAfterMs);

    [LoggerMessage(EventId = 807, Level = LogLevel.Debug, Message = "Robot gateway: checking the Commands stream of robot {RobotId} (epoch {Epoch}) failed; trying again")]
    private partial void LogStreamCheckFailed(Exception exception, string robotId, long epoch);

    [LoggerMessage(EventId = 808, Level = LogLevel.Information, Message = "Robot gateway: {Method} met a silo just declared dead; sent again")]
    private partial void LogSentAgain(Exception exception, string method);

    [LoggerMessage(EventId = 805, Level = LogLevel.Warning, Message = "Robot gateway: {Method} failed in the fleet")]
    private partial void LogFleetUnavailable(Exception exception, string method);
}
