using A1Fleet.Grains;
using Orleans.Runtime;

namespace A1Fleet.Grains.Tests.Robots;

/// <summary>The per-silo relay lives on the silo its key names, and on no other.</summary>
[Collection(FleetClusterCollection.Name)]
public sealed class RobotCommandRelayPlacementTests(FleetClusterFixture fixture)
{
    [Fact]
    public async Task Relay_KeyedBySiloAddress_ActivatesOnThatSilo()
    {
        var command = new RobotCommand(RobotCommandKind.EStop, null, 100, 1, 1);
        var silos = fixture.Cluster.Silos.Select(s => s.SiloAddress).ToList();
        Assert.True(silos.Count >= 2, "the fixture should run more than one silo");
        foreach (var silo in silos)
        {
            // No robot gateway in this cluster: nothing holds a stream, so nothing is delivered.
            Assert.False(await fixture.Client.GetGrain<IRobotCommandRelayGrain>(silo.ToParsableString()).Deliver("nobody", command));
        }

        var stats = await fixture.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var relays = stats.Where(s => s.GrainType.Contains("RobotCommandRelayGrain", StringComparison.Ordinal)).ToList();
        Assert.Equal(silos.Count, relays.Count);
        Assert.All(relays, r => Assert.Equal(r.GrainId.Key.ToString(), r.SiloAddress.ToParsableString()));
    }

    [Fact]
    public async Task Relay_ForASiloNotInTheCluster_FailsInsteadOfActivatingElsewhere()
    {
        var gone = SiloAddress.New(System.Net.IPAddress.Loopback, 1, 12345).ToParsableString();
        var relay = fixture.Client.GetGrain<IRobotCommandRelayGrain>(gone);

        await Assert.ThrowsAnyAsync<Exception>(() => relay.Deliver("nobody", new RobotCommand(RobotCommandKind.EStop, null, 100, 1, 1)));
    }
}
