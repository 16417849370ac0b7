namespace A1Fleet.Cluster.Tests;

/// <summary>
/// The tests that start process clusters run one at a time: each starts redis and two or more silo
/// processes, and two at once on a small machine would measure CPU starvation, not failover.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ProcessClusterCollection
{
    public const string Name = "process clusters";
}
