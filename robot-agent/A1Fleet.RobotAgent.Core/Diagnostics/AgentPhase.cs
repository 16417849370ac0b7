namespace A1Fleet.RobotAgent.Diagnostics;

/// <summary>What an agent is doing right now, for the live view.</summary>
public enum AgentPhase
{
    /// <summary>Binding to the robot grain (first bind, or the cluster is unreachable).</summary>
    Connecting = 0,

    /// <summary>Bound, waiting for a first chunk.</summary>
    Waiting = 1,

    /// <summary>Executing a chunk.</summary>
    Executing = 2,

    /// <summary>Holding: the chunk ran out before the next arrived (an idle gap).</summary>
    Starved = 3,

    /// <summary>Holding because the fleet says so (no task).</summary>
    Holding = 4,

    EStopped = 5,

    Stopped = 6,

    /// <summary>Holding because of a local stop (signal or loopback HTTP at the arm); only a local resume clears it.</summary>
    LocalStop = 7,
}
