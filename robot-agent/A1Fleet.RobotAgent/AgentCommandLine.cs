using A1Fleet.RobotAgent.Recording;

namespace A1Fleet.RobotAgent.Host;

/// <summary>The agent's command line: each switch is a configuration key, so appsettings and environment variables work too.</summary>
public static class AgentCommandLine
{
    public static IDictionary<string, string> SwitchMappings { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["--robot-id"] = $"{AgentOptions.SectionName}:RobotId",
        ["--embodiment"] = $"{AgentOptions.SectionName}:Embodiment",
        ["--model"] = $"{AgentOptions.SectionName}:ModelId",
        ["--seed"] = $"{AgentOptions.SectionName}:Seed",
        ["--request-ahead"] = $"{AgentOptions.SectionName}:RequestAheadShare",
        ["--blend-steps"] = $"{AgentOptions.SectionName}:BlendSteps",
        ["--reject-speed-factor"] = $"{AgentOptions.SectionName}:RejectSpeedFactor",
        ["--agent-id"] = $"{AgentOptions.SectionName}:AgentId",
        ["--tags"] = $"{AgentHostOptions.SectionName}:Tags",
        ["--gateway"] = $"{AgentHostOptions.SectionName}:Gateway",
        ["--gateway-ca"] = $"{AgentHostOptions.SectionName}:GatewayCaFile",
        ["--credential-file"] = $"{AgentHostOptions.SectionName}:CredentialFile",
        ["--heartbeat-interval"] = $"{AgentOptions.SectionName}:HeartbeatIntervalSeconds",
        ["--status-interval"] = $"{AgentHostOptions.SectionName}:StatusIntervalSeconds",
        ["--metrics-port"] = $"{AgentHostOptions.SectionName}:MetricsPort",
        ["--listen-address"] = $"{AgentHostOptions.SectionName}:ListenAddress",
        ["--record"] = $"{EpisodeRecordingOptions.SectionName}:Directory",
        ["--record-episode-seconds"] = $"{EpisodeRecordingOptions.SectionName}:MaxEpisodeSeconds",
        ["--record-min-frames"] = $"{EpisodeRecordingOptions.SectionName}:MinEpisodeFrames",
    };
}
