using A1Fleet.Grains.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace A1Fleet.Silo.Health;

/// <summary>Ready once this silo is an active member of the cluster.</summary>
internal sealed class ClusterMembershipHealthCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {local.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {local.SiloAddress} is {status}"));
    }
}

/// <summary>Ready once a GPU silo has loaded its models and registered them with the cluster (CPU silos: always).</summary>
internal sealed class ModelsLoadedHealthCheck(ModelRegistrationStartup models, IOptions<Hosting.SiloHostOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Gpu)
        {
            return Task.FromResult(HealthCheckResult.Healthy("CPU silo: serves no models"));
        }

        if (models.Ready.IsFaulted)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("model registration failed", models.Ready.Exception));
        }

        return Task.FromResult(models.IsReady
            ? HealthCheckResult.Healthy($"serving {string.Join(", ", models.Models)}")
            : HealthCheckResult.Unhealthy("models are still loading"));
    }
}
