using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace A1Fleet.Grains.Placement;

/// <summary>Silo metadata keys this project sets (see the silo's <c>UseSiloMetadata</c> call).</summary>
public static class SiloMetadataKeys
{
    /// <summary>"true" on silos with an accelerator and the model weights loaded.</summary>
    public const string Gpu = "a1fleet.gpu";
}

/// <summary>Activates the grain only on silos whose metadata says <c>a1fleet.gpu = true</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class GpuSiloPlacementFilterAttribute() : PlacementFilterAttribute(new GpuSiloPlacementFilterStrategy());

public sealed class GpuSiloPlacementFilterStrategy() : PlacementFilterStrategy(order: 0);

/// <summary>
/// Filters candidate silos down to GPU silos. An empty result is deliberate: with no GPU silo in the
/// cluster, placement fails and the caller reports "no GPU silo" instead of running a model on a
/// machine that cannot hold it.
/// </summary>
public sealed class GpuSiloPlacementFilterDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos) =>
        silos.Where(silo => IsGpuSilo(metadata, silo));

    public static bool IsGpuSilo(ISiloMetadataCache metadata, SiloAddress silo) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(SiloMetadataKeys.Gpu, out var value)
        && string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);
}
