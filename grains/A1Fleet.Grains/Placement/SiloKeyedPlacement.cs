using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace A1Fleet.Grains.Placement;

/// <summary>
/// Activates a grain keyed by a silo address (<see cref="SiloAddress.ToParsableString"/>), alone or as the last
/// "/"-separated part of the key ("{modelId}/{silo}"), on that silo and nowhere else: a grain that stands for one silo's
/// local state or device. When that silo is gone, placement finds no candidate and the call fails instead of activating
/// a stand-in elsewhere.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloKeyedPlacementFilterAttribute() : PlacementFilterAttribute(new SiloKeyedPlacementFilterStrategy());

public sealed class SiloKeyedPlacementFilterStrategy() : PlacementFilterStrategy(order: 0);

public sealed class SiloKeyedPlacementFilterDirector : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var silo = SiloOf(target.GrainIdentity.Key.ToString());
        return silos.Where(s => string.Equals(s.ToParsableString(), silo, StringComparison.Ordinal));
    }

    /// <summary>The silo part of a silo-keyed grain's key: after the last '/' (a parsable silo address has none).</summary>
    public static string SiloOf(string key) => key[(key.LastIndexOf('/') + 1)..];
}
