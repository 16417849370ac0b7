using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Cluster;

/// <summary>
/// The object the robot grain pushes commands to. Orleans holds only a weak reference to it, so its chunk
/// source keeps it alive for as long as the agent runs.
/// </summary>
internal sealed class AgentCommandObserver(Action<RobotCommand> onCommand) : IRobotAgentObserver
{
    public Task OnCommand(RobotCommand command)
    {
        onCommand(command);
        return Task.CompletedTask;
    }
}
