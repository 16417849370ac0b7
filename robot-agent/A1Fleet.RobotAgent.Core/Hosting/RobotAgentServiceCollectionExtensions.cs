using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Recording;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Hosting;

public static class RobotAgentServiceCollectionExtensions
{
    /// <summary>
    /// One agent as a hosted service: <see cref="AgentOptions"/> bound from "A1Fleet:Agent" and validated at start,
    /// <see cref="AgentInstruments"/> on the host's meter factory, and the <see cref="RobotAgentRunner"/> itself
    /// (also resolvable, for status output), and the <see cref="EpisodeRecorder"/> that records its episodes when
    /// "A1Fleet:Recording:Directory" is set (disposed with the host, after the agent stopped, so the last episode
    /// is written). Reaches the fleet through the registered <see cref="IChunkSourceFactory"/> (the agent process
    /// registers the robot gateway's); without one, through the container's <c>IGrainFactory</c> (a silo in process).
    /// </summary>
    public static IServiceCollection AddA1FleetRobotAgent(this IServiceCollection services)
    {
        services.AddOptions<AgentOptions>().BindConfiguration(AgentOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AgentInstruments>();
        services.AddOptions<EpisodeRecordingOptions>().BindConfiguration(EpisodeRecordingOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EpisodeRecordingOptions>, EpisodeRecordingOptionsValidator>());
        services.TryAddSingleton<EpisodeRecorder>();
        services.TryAddSingleton<IChunkSourceFactory>(sp => new GrainChunkSourceFactory(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new RobotAgentRunner(sp.GetRequiredService<IChunkSourceFactory>(), sp.GetRequiredService<IOptions<AgentOptions>>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<RobotAgentRunner>>(),
            sp.GetRequiredService<AgentInstruments>(), sp.GetRequiredService<EpisodeRecorder>(), sp.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()));
        services.AddHostedService(sp => sp.GetRequiredService<RobotAgentRunner>());
        return services;
    }
}
