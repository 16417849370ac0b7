using Grpc.Core;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// Calls to one of several robot gateways (one per silo), moving off a failed one at once: a call whose connection fails
/// (<see cref="IsConnectionFailure"/>: refused or reset, the silo behind it is gone) marks that gateway bad for a back-off
/// (<see cref="GatewayRotation"/>) and a unary call is sent again, at once, to the next gateway not yet tried, under the
/// same deadline and token: the request's budget is the call's, not one attempt's. Every gateway call of the agent is
/// safe to repeat (a bind again takes the lease afresh; act, heartbeat and counters carry the lease epoch). A server
/// stream (Commands) is opened on a gateway not marked bad; its failure marks it, so that the agent's reopening goes
/// elsewhere. A gateway that answered with an error (even Unavailable: the fleet behind it could not answer) is not
/// marked: its connection works, and another gateway reaches the same fleet.
/// </summary>
public sealed class GatewayCallInvoker : CallInvoker, IDisposable
{
    private readonly IReadOnlyList<CallInvoker> _gateways;
    private readonly IReadOnlyList<IDisposable> _owned;
    private readonly TimeProvider _time;

    /// <param name="gateways">One invoker per gateway address, in the configured order.</param>
    /// <param name="owned">Disposed with this invoker (the gateways' channels).</param>
    public GatewayCallInvoker(IReadOnlyList<CallInvoker> gateways, TimeProvider time, IReadOnlyList<IDisposable>? owned = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(gateways.Count);
        _gateways = gateways;
        _owned = owned ?? [];
        _time = time;
        Rotation = new GatewayRotation(gateways.Count, time);
    }

    /// <summary>Which gateways are marked bad, and for how long (for tests and diagnostics).</summary>
    public GatewayRotation Rotation { get; }

    /// <summary>Calls sent again to another gateway after a connection failure, since the start.</summary>
    public int Failovers => Volatile.Read(ref _failovers);

    private int _failovers;

    /// <summary>
    /// The call never reached a gateway's service, or its connection broke under it: the client itself reports
    /// Unavailable with the transport's exception attached. A gateway that answers Unavailable sends no such exception.
    /// </summary>
    public static bool IsConnectionFailure(RpcException ex) => ex.StatusCode == StatusCode.Unavailable && ex.Status.DebugException is not null;

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var attempt = new UnaryAttempts<TResponse>();
        var response = SendAsync(method, host, options, request, attempt);
        return new AsyncUnaryCall<TResponse>(response, attempt.HeadersAsync(), attempt.Status, attempt.Trailers, attempt.Dispose);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options,
        TRequest request)
    {
        var index = Rotation.Pick() ?? 0;
        var call = _gateways[index].AsyncServerStreamingCall(method, host, options, request);
        return new AsyncServerStreamingCall<TResponse>(new MarkingReader<TResponse>(call.ResponseStream, this, index), Marked(call.ResponseHeadersAsync, index),
            call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        _gateways[Rotation.Pick() ?? 0].AsyncClientStreamingCall(method, host, options);

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        _gateways[Rotation.Pick() ?? 0].AsyncDuplexStreamingCall(method, host, options);

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }

    private async Task<TResponse> SendAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request,
        UnaryAttempts<TResponse> attempts)
        where TRequest : class
        where TResponse : class
    {
        var tried = new List<int>(_gateways.Count);
        while (true)
        {
            var index = Rotation.Pick(tried) ?? throw new InvalidOperationException("no gateway left to try");
            tried.Add(index);
            var call = _gateways[index].AsyncUnaryCall(method, host, options, request);
            attempts.Current = call;
            try
            {
                var response = await call.ResponseAsync.ConfigureAwait(false);
                Rotation.MarkSucceeded(index);
                return response;
            }
            catch (RpcException ex) when (IsConnectionFailure(ex))
            {
                Rotation.MarkFailed(index);
                var pastDeadline = options.Deadline is { } deadline && deadline <= _time.GetUtcNow().UtcDateTime;
                if (tried.Count >= _gateways.Count || pastDeadline || options.CancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                // Another gateway, at once: the call's deadline still holds for the next attempt.
                Interlocked.Increment(ref _failovers);
                call.Dispose();
            }
        }
    }

    private async Task<Metadata> Marked(Task<Metadata> headers, int index)
    {
        try
        {
            var result = await headers.ConfigureAwait(false);
            Rotation.MarkSucceeded(index);
            return result;
        }
        catch (RpcException ex) when (IsConnectionFailure(ex))
        {
            Rotation.MarkFailed(index);
            throw;
        }
    }

    /// <summary>The attempt in flight of one unary call: what its headers, status and trailers are read from.</summary>
    private sealed class UnaryAttempts<TResponse>
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private AsyncUnaryCall<TResponse>? _current;

        public AsyncUnaryCall<TResponse>? Current
        {
            get => Volatile.Read(ref _current);
            set
            {
                Volatile.Write(ref _current, value);
                _started.TrySetResult();
            }
        }

        public async Task<Metadata> HeadersAsync()
        {
            await _started.Task.ConfigureAwait(false);
            return await Current!.ResponseHeadersAsync.ConfigureAwait(false);
        }

        public Status Status() => Current?.GetStatus() ?? throw new InvalidOperationException("the call has not started");

        public Metadata Trailers() => Current?.GetTrailers() ?? throw new InvalidOperationException("the call has not started");

        public void Dispose() => Current?.Dispose();
    }

    /// <summary>A server stream whose connection failure marks its gateway bad.</summary>
    private sealed class MarkingReader<T>(IAsyncStreamReader<T> inner, GatewayCallInvoker owner, int index) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                return await inner.MoveNext(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex) when (IsConnectionFailure(ex))
            {
                owner.Rotation.MarkFailed(index);
                throw;
            }
        }
    }
}
