using System.Diagnostics.Metrics;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>The gateway's metrics (meter "A1Fleet.RobotGateway"); tags are the method and a gRPC status name, never a robot id.</summary>
public sealed class RobotGatewayInstruments
{
    public const string MeterName = "A1Fleet.RobotGateway";

    private readonly Counter<long> _calls;
    private readonly UpDownCounter<long> _streams;

    public RobotGatewayInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _calls = meter.CreateCounter<long>("a1fleet.robot_gateway.calls", "{call}", "Robot gateway calls by method and gRPC status (unauthenticated, permission_denied, invalid_argument, ...)");
        _streams = meter.CreateUpDownCounter<long>("a1fleet.robot_gateway.command_streams", "{stream}", "Open Commands streams");
    }

    public void OnCall(string method, Grpc.Core.StatusCode status) =>
        _calls.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("status", StatusName(status)));

    public void OnStreamOpened() => _streams.Add(1);

    public void OnStreamClosed() => _streams.Add(-1);

    private static string StatusName(Grpc.Core.StatusCode status) => status switch
    {
        Grpc.Core.StatusCode.OK => "ok",
        Grpc.Core.StatusCode.Unauthenticated => "unauthenticated",
        Grpc.Core.StatusCode.PermissionDenied => "permission_denied",
        Grpc.Core.StatusCode.InvalidArgument => "invalid_argument",
        Grpc.Core.StatusCode.FailedPrecondition => "failed_precondition",
        Grpc.Core.StatusCode.Unavailable => "unavailable",
        Grpc.Core.StatusCode.Cancelled => "cancelled",
        Grpc.Core.StatusCode.ResourceExhausted => "resource_exhausted",
        _ => "other",
    };
}
