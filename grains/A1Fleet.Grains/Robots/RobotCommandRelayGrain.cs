using A1Fleet.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;

namespace A1Fleet.Grains.Robots;

/// <summary>
/// What a silo that holds robots' command streams (the robot gateway) offers the relay: hand a command to the open
/// stream of that robot and lease epoch, if this silo holds one.
/// </summary>
public interface ILocalRobotCommandRelay
{
    /// <summary>True when a stream of <paramref name="robotId"/> at the command's epoch took the command.</summary>
    bool Deliver(string robotId, RobotCommand command);
}

/// <summary>
/// One per silo, on that silo (<see cref="SiloKeyedPlacementFilterAttribute"/>): the way a robot grain reaches the
/// streams a silo's gateway holds without knowing which silo that is, e.g. right after the grain reactivated on a
/// survivor and has no observer yet. A silo without a gateway delivers nothing.
/// </summary>
[Reentrant, SiloKeyedPlacementFilter]
public sealed class RobotCommandRelayGrain(IServiceProvider services) : Grain, IRobotCommandRelayGrain
{
    private readonly ILocalRobotCommandRelay? _local = services.GetService<ILocalRobotCommandRelay>();

    public Task<bool> Deliver(string robotId, RobotCommand command) => Task.FromResult(_local?.Deliver(robotId, command) ?? false);
}
