using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotGateway;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// The way a robot on its own machine reaches its grain: the robot gateway's gRPC protocol, authenticated with the
/// robot's credential on every call. Lease keeping is <see cref="LeasedChunkSource"/>'s, as for the in-process source.
/// <para>Pushed commands arrive on the Commands server stream of the bound epoch, opened after every bind and reopened
/// with back-off when it breaks; the gateway ending it for a lost lease makes the next request bind again. A bind the
/// gateway refuses because another live agent holds the robot comes back as <see cref="LeaseHeldException"/>.</para>
/// </summary>
public sealed partial class GatewayChunkSource : LeasedChunkSource
{
    private readonly ILogger _logger;
    private readonly P.RobotGateway.RobotGatewayClient _client;
    private readonly Metadata _headers;
    private static readonly TimeSpan StreamReopenMinDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan StreamReopenMaxDelay = TimeSpan.FromMilliseconds(500);
    private readonly ExponentialBackoff _streamBackoff;
    private readonly Lock _streamGate = new();
    private CancellationTokenSource? _stream;

    public GatewayChunkSource(CallInvoker gateway, string credential, AgentRegistration registration, string robotId, RobotCommandInbox commands,
        AgentMetrics metrics, AgentOptions options, TimeProvider time, ILogger logger)
        : base(registration, robotId, commands, metrics, options, time, logger)
    {
        _logger = logger;
        _client = new P.RobotGateway.RobotGatewayClient(gateway);
        _headers = RobotGatewayMetadata.BearerHeaders(credential);
        // The stream is how an e-stop reaches the arm within a control period: through a silo failover it is reopened
        // at least every StreamReopenMaxDelay, so the arm hears of an e-stop soon after its grain is back, not seconds later.
        _streamBackoff = new ExponentialBackoff(StreamReopenMinDelay, StreamReopenMaxDelay, options.EffectiveSeed + 2);
    }

    /// <summary>How many times a Commands stream was opened (for tests and the status line).</summary>
    public int StreamsOpened => Volatile.Read(ref _streamsOpened);

    private int _streamsOpened;

    protected override async Task<RobotLease> BindCoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reply = await Unary(_client.BindAsync(Registration.ToProto(RobotId), _headers, cancellationToken: cancellationToken), cancellationToken);
            return (reply.Lease ?? throw new InvalidDataException("the gateway's bind reply has no lease")).FromProto();
        }
        catch (RpcException ex) when (RobotGatewayMetadata.AsLeaseHeld(ex, RobotId) is { } held)
        {
            throw held;
        }
        catch (RpcException ex) when (RobotGatewayMetadata.RetryAfter(ex) is { } after)
        {
            throw new RetryLaterException(ex.Status.Detail, after, ex);
        }
    }

    protected override void OnBound(RobotLease lease) => RestartStream(lease.Epoch);

    protected override async Task<ActionChunk> ActCoreAsync(long epoch, Observation observation, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await Unary(_client.ActAsync(new P.ActRequest { RobotId = RobotId, Epoch = epoch, Observation = observation.ToProto(), ObservationAgeMs = observation.AgeMs }, _headers,
                cancellationToken: cancellationToken), cancellationToken);
            return reply.FromProto();
        }
        catch (RpcException ex) when (RobotGatewayMetadata.RetryAfter(ex) is { } after)
        {
            // Over the robot's request rate: the lease is fine, only this request is refused.
            throw new RetryLaterException(ex.Status.Detail, after, ex);
        }
    }

    protected override Task ResubscribeCoreAsync(long epoch, CancellationToken cancellationToken)
    {
        // The gateway that holds our stream re-subscribes it itself; this one does not hold it (or it broke): open it here.
        RestartStream(epoch);
        return Task.CompletedTask;
    }

    protected override async Task<bool> HeartbeatCoreAsync(long epoch, CancellationToken cancellationToken)
    {
        var reply = await Unary(_client.HeartbeatAsync(new P.HeartbeatRequest { RobotId = RobotId, Epoch = epoch }, _headers, cancellationToken: cancellationToken),
            cancellationToken);
        return reply.Held;
    }

    protected override async Task ReportCoreAsync(long epoch, AgentCounters counters, CancellationToken cancellationToken) =>
        await Unary(_client.ReportCountersAsync(new P.ReportCountersRequest { RobotId = RobotId, Epoch = epoch, Counters = counters.ToProto() }, _headers,
            cancellationToken: cancellationToken), cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_streamGate)
            {
                _stream?.Cancel();
                _stream?.Dispose();
                _stream = null;
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// gRPC reports a call cancelled through its token as RpcException(Cancelled), where the agent's loops expect an
    /// <see cref="OperationCanceledException"/> to stop on: without this a heartbeat in flight at shutdown escapes
    /// them as an error.
    /// </summary>
    private static async Task<T> Unary<T>(AsyncUnaryCall<T> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(ex.Status.Detail, ex, cancellationToken);
        }
    }

    /// <summary>
    /// Make-before-break: the new stream (of <paramref name="epoch"/>) is opened while the one it replaces stays open, and
    /// that one is only dropped once the gateway has registered the new one (its headers arrived). At no moment does the
    /// agent hold no registered stream, so an e-stop relayed meanwhile (delivered to any stream of the robot, whatever its
    /// epoch) always finds one. The gateway itself ends a robot's older stream when a newer one registers.
    /// </summary>
    private void RestartStream(long epoch)
    {
        var next = new CancellationTokenSource();
        CancellationTokenSource? previous;
        lock (_streamGate)
        {
            previous = _stream;
            _stream = next;
        }

        _ = RunStreamAsync(epoch, next, previous);
    }

    private bool IsCurrent(CancellationTokenSource stream)
    {
        lock (_streamGate)
        {
            return ReferenceEquals(_stream, stream);
        }
    }

    /// <summary>
    /// Reads the Commands stream of <paramref name="epoch"/> until the lease moves on, reopening it when it breaks, until a
    /// newer stream replaces it (which then closes <paramref name="previous"/>, this one's predecessor, once it is live). It
    /// is kept open while a failed request has the agent waiting to bind again too: through a silo failover the bind can
    /// take seconds (the grain is unreachable until it reactivates, and binds back off), and the stream, reopened on a live
    /// gateway, is where an e-stop recorded meanwhile arrives. The gateway ends it once the epoch is really lost.
    /// </summary>
    private async Task RunStreamAsync(long epoch, CancellationTokenSource stream, CancellationTokenSource? previous)
    {
        var cancellationToken = stream.Token;
        try
        {
            // A stream a newer one replaced is not reopened when it breaks: that one carries the commands now.
            while (!cancellationToken.IsCancellationRequested && epoch == Epoch && IsCurrent(stream))
            {
                try
                {
                    Interlocked.Increment(ref _streamsOpened);
                    using var call = _client.Commands(new P.CommandsRequest { RobotId = RobotId, Epoch = epoch }, _headers, cancellationToken: cancellationToken);

                    // Headers mean the gateway registered the stream: it is live, so the one it replaces can go, and the
                    // next break starts the back-off afresh.
                    await call.ResponseHeadersAsync;
                    Close(ref previous);
                    _streamBackoff.Reset();
                    while (await call.ResponseStream.MoveNext(cancellationToken))
                    {
                        _streamBackoff.Reset();
                        if (call.ResponseStream.Current.FromProto() is { } command)
                        {
                            OnPushedCommand(command);
                        }
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.FailedPrecondition)
                {
                    // The gateway ended the stream because this epoch no longer holds the robot.
                    OnLeaseLost(epoch, ex.Status.Detail);
                    return;
                }
                catch (Exception ex) when (!IsCurrent(stream))
                {
                    // Replaced while it broke (the gateway ends a robot's older stream once the newer one registers).
                    LogStreamReplaced(ex.Message, RobotId, epoch);
                    return;
                }
                catch (Exception ex)
                {
                    LogStreamBroken(ex, RobotId, epoch);
                }

                try
                {
                    await Task.Delay(_streamBackoff.Next(), Time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            // Never live (cancelled, replaced or lease lost before its headers came): its predecessor goes with it, and
            // whatever replaced this one keeps the robot's commands coming.
            Close(ref previous);
        }
    }

    /// <summary>
    /// Cancels a replaced stream. Not disposed here: the stream that replaced it may still hold it as its predecessor (a
    /// source without a timer holds nothing to free); <see cref="Dispose(bool)"/> disposes the current one.
    /// </summary>
    private static void Close(ref CancellationTokenSource? stream)
    {
        if (stream is { } s)
        {
            stream = null;
            try
            {
                s.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The source itself was disposed (shutting down): that stream is over already.
            }
        }
    }

    [LoggerMessage(EventId = 728, Level = LogLevel.Debug, Message = "Robot {RobotId}: the command stream for epoch {Epoch} ended after a newer one replaced it ({Reason})")]
    private partial void LogStreamReplaced(string reason, string robotId, long epoch);

    [LoggerMessage(EventId = 718, Level = LogLevel.Warning, Message = "Robot {RobotId}: the gateway's command stream for epoch {Epoch} broke; reopening")]
    private partial void LogStreamBroken(Exception exception, string robotId, long epoch);
}
