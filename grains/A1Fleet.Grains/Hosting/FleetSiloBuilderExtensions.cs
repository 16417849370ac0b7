using A1Fleet.Grains.Calibration;
using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Inference;
using A1Fleet.Grains.Placement;
using A1Fleet.Grains.Robots;
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
        services.AddValidatedOptions<FleetOptions, FleetOptionsValidator>(configuration, FleetOptions.SectionName);
        services.AddValidatedOptions<RobotOptions, RobotOptionsValidator>(configuration, RobotOptions.SectionName);
        services.AddValidatedOptions<InferenceBatchingOptions, InferenceBatchingOptionsValidator>(configuration, InferenceBatchingOptions.SectionName);
        services.AddValidatedOptions<CalibrationJobGrainOptions, CalibrationJobGrainOptionsValidator>(configuration, CalibrationJobGrainOptions.SectionName);
        // Orleans refuses reminders shorter than its minimum period (1 minute by default): a shorter
        // calibration reminder period lowers the minimum to match instead of failing every job start.
        services.AddOptions<ReminderOptions>().Configure<IOptions<CalibrationJobGrainOptions>>((reminders, calibration) =>
        {
            if (calibration.Value.ReminderPeriod < reminders.MinimumReminderPeriod)
            {
                reminders.MinimumReminderPeriod = calibration.Value.ReminderPeriod;
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
        services.TryAddSingleton<SiloAnswers>();
        services.TryAddSingleton<InferenceService>();
        services.AddPlacementFilter<GpuSiloPlacementFilterStrategy, GpuSiloPlacementFilterDirector>(ServiceLifetime.Singleton);
        services.AddPlacementFilter<SiloKeyedPlacementFilterStrategy, SiloKeyedPlacementFilterDirector>(ServiceLifetime.Singleton);
        services.AddSingleton<ModelRegistrationStartup>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ModelRegistrationStartup>());
        return silo;
    }

    private static void AddValidatedOptions<TOptions, TValidator>(this IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
    }
}
