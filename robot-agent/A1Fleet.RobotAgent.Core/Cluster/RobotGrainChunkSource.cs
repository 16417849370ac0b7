using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// The in-process way to the robot grain (the fleet demo, the bench, tests): Orleans calls on an
/// <see cref="IGrainFactory"/>. Binding registers an <see cref="IRobotAgentObserver"/> so e-stops and task changes are
/// pushed; pushed commands go to the control loop's <see cref="RobotCommandInbox"/>. Lease keeping is
/// <see cref="LeasedChunkSource"/>'s; robots on their own machines use <see cref="GatewayChunkSource"/>.
/// </summary>
public sealed class RobotGrainChunkSource : LeasedChunkSource
{
    private readonly IGrainFactory _grains;
    private readonly IRobotGrain _robot;
    private readonly AgentCommandObserver _observer;
    private IRobotAgentObserver? _observerReference;

    public RobotGrainChunkSource(IGrainFactory grains, AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics,
        AgentOptions options, TimeProvider time, ILogger logger)
        : base(registration, robotId, commands, metrics, options, time, logger)
    {
        _grains = grains;
        _robot = grains.GetGrain<IRobotGrain>(robotId);
        _observer = new AgentCommandObserver(OnPushedCommand);
    }

    protected override Task<RobotLease> BindCoreAsync(CancellationToken cancellationToken)
    {
        _observerReference ??= _grains.CreateObjectReference<IRobotAgentObserver>(_observer);
        return _robot.Bind(Registration, _observerReference, cancellationToken);
    }

    protected override Task<ActionChunk> ActCoreAsync(long epoch, Observation observation, CancellationToken cancellationToken) =>
        _robot.Act(epoch, observation, cancellationToken);

    protected override Task ResubscribeCoreAsync(long epoch, CancellationToken cancellationToken) =>
        _observerReference is null ? Task.CompletedTask : _robot.Subscribe(epoch, _observerReference);

    protected override Task<bool> HeartbeatCoreAsync(long epoch, CancellationToken cancellationToken) => _robot.Heartbeat(epoch);

    protected override Task ReportCoreAsync(long epoch, AgentCounters counters, CancellationToken cancellationToken) =>
        _robot.ReportAgentCounters(epoch, counters);

    protected override void Dispose(bool disposing)
    {
        if (disposing && _observerReference is not null)
        {
            _grains.DeleteObjectReference<IRobotAgentObserver>(_observerReference);
            _observerReference = null;
        }

        base.Dispose(disposing);
    }
}
