using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Inference;
using A1Fleet.Grains.Placement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace A1Fleet.Grains.Hosting;

public static class FleetSiloBuilderExtensions
{
    /// <summary>
    /// Adds the fleet's grains and silo-local services. <paramref name="gpu"/> marks this silo as able
    /// to host inference grains (silo metadata read by the GPU placement filter); only such a silo
    /// loads model weights. Storage named <see cref="FleetOptions.StorageName"/> and a reminder service
    /// (calibration jobs keep a reminder while they run) must be added by the caller.
    /// </summary>
    public static ISiloBuilder AddA1Fleet(this ISiloBuilder silo, IConfiguration configuration, bool gpu)
    {
        silo.UseSiloMetadata(new Dictionary<string, string> { [SiloMetadataKeys.Gpu] = gpu ? "true" : "false" });
        var services = silo.Services;
        services.AddOptions<FleetOptions>().Bind(configuration.GetSection(FleetOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<FleetOptions>, FleetOptionsValidator>();
        // Orleans refuses reminders shorter than its minimum period (1 minute by default): a shorter
        // calibration reminder period lowers the minimum to match instead of failing every job start.
        services.AddOptions<ReminderOptions>().Configure<IOptions<FleetOptions>>((reminders, fleet) =>
        {
            if (fleet.Value.CalibrationReminderPeriod < reminders.MinimumReminderPeriod)
            {
                reminders.MinimumReminderPeriod = fleet.Value.CalibrationReminderPeriod;
            }
        });
        services.AddOptions<InferenceServiceOptions>().Bind(configuration.GetSection(InferenceServiceOptions.SectionName))
            .PostConfigure(o =>
            {
                if (!gpu)
                {
                    // Weights live on GPU silos only; a CPU silo keeps its memory for grains.
                    o.ModelPackages.Clear();
                }
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<InferenceServiceOptions>, InferenceServiceOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<FleetInstruments>();
        services.TryAddSingleton<InferenceService>();
        services.AddPlacementFilter<GpuSiloPlacementFilterStrategy, GpuSiloPlacementFilterDirector>(ServiceLifetime.Singleton);
        services.AddPlacementFilter<SiloKeyedPlacementFilterStrategy, SiloKeyedPlacementFilterDirector>(ServiceLifetime.Singleton);
        services.AddSingleton<ModelRegistrationStartup>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ModelRegistrationStartup>());
        return silo;
    }
}
