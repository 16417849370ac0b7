using A1Fleet.Grains;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>How an agent reaches its robot grain: one <see cref="LeasedChunkSource"/> per agent run.</summary>
public interface IChunkSourceFactory
{
    LeasedChunkSource Create(AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics, AgentOptions options, ILogger logger);
}

/// <summary>Orleans calls in the same process or through an Orleans client: the bench and tests.</summary>
public sealed class GrainChunkSourceFactory(IGrainFactory grains, TimeProvider time) : IChunkSourceFactory
{
    public LeasedChunkSource Create(AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics, AgentOptions options, ILogger logger) =>
        new RobotGrainChunkSource(grains, registration, robotId, commands, metrics, options, time, logger);
}

/// <summary>The robot gateway over gRPC with the robot's credential: the a1-agent process and the fleet demo's arms.</summary>
public sealed class GatewayChunkSourceFactory(CallInvoker gateway, string credential, TimeProvider time) : IChunkSourceFactory
{
    public LeasedChunkSource Create(AgentRegistration registration, string robotId, RobotCommandInbox commands, AgentMetrics metrics, AgentOptions options, ILogger logger) =>
        new GatewayChunkSource(gateway, credential, registration, robotId, commands, metrics, options, time, logger);
}
