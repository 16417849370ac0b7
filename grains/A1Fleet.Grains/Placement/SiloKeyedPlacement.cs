using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace A1Fleet.Grains.Placement;

/// <summary>
/// Activates a grain keyed by a silo address (<see cref="SiloAddress.ToParsableString"/>) on that silo and nowhere
/// else: a grain that stands for one silo's local state. When that silo is gone, placement finds no candidate and
/// the call fails instead of activating a stand-in elsewhere.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloKeyedPlacementFilterAttribute() : PlacementFilterAttribute(new SiloKeyedPlacementFilterStrategy());

public sealed class SiloKeyedPlacementFilterStrategy() : PlacementFilterStrategy(order: 0);

public sealed class SiloKeyedPlacementFilterDirector : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var key = target.GrainIdentity.Key.ToString();
        return silos.Where(silo => string.Equals(silo.ToParsableString(), key, StringComparison.Ordinal));
    }
}
