using A1Fleet.Grains;
using Orleans.Runtime;

namespace A1Fleet.Grains.Tests.Models;

/// <summary>GPU silos register as serving their models; robots' requests go to the per-silo inference grain of the silo they chose.</summary>
[Collection(FleetClusterCollection.Name)]
public sealed class ModelServingTests(FleetClusterFixture fixture)
{
    private SiloAddress GpuSilo => fixture.Cluster.Silos.Single(s => s.Name == fixture.GpuSiloName).SiloAddress;

    [Fact]
    public async Task GetServing_AfterStartup_ListsTheGpuSiloOnly()
    {
        var serving = await fixture.Client.GetGrain<IModelGrain>("tiny-fm").GetServing();
        var info = await fixture.Client.GetGrain<IModelGrain>("tiny-fm").GetInfo();

        Assert.Equal([GpuSilo.ToParsableString()], serving.Silos);
        Assert.NotNull(serving.FirstExitMs);
        Assert.Equal(serving.Silos, info.ServingSilos);
    }

    [Fact]
    public async Task RegisterServingSilo_TwiceAndAnother_EachListedOnce()
    {
        var model = fixture.Client.GetGrain<IModelGrain>("serving-" + Guid.NewGuid().ToString("N")[..8]);
        // Any live member will do for the list itself (the CPU silo never registers on its own).
        var other = fixture.Cluster.Silos.Single(s => s.Name != fixture.GpuSiloName).SiloAddress.ToParsableString();

        await model.RegisterServingSilo(GpuSilo.ToParsableString());
        await model.RegisterServingSilo(GpuSilo.ToParsableString());
        await model.RegisterServingSilo(other);

        Assert.Equal([GpuSilo.ToParsableString(), other], (await model.GetServing()).Silos);
    }

    [Fact]
    public async Task RegisterServingSilo_NotASiloAddress_Refused()
    {
        var model = fixture.Client.GetGrain<IModelGrain>("serving-" + Guid.NewGuid().ToString("N")[..8]);

        await Assert.ThrowsAnyAsync<Exception>(() => model.RegisterServingSilo("not a silo"));
        Assert.Empty((await model.GetServing()).Silos);
    }

    [Fact]
    public async Task Act_Served_ByTheInferenceGrainKeyedByModelAndServingSilo()
    {
        var agent = new TestAgent(fixture.Client, "spread-" + Guid.NewGuid().ToString("N")[..8], model: "tiny-mlp");
        await agent.BindAsync();
        await agent.Robot.AssignTask("open the drawer", "test");

        Assert.Equal(ChunkStatus.Ok, (await agent.ActAsync()).Status);

        var stats = await fixture.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var inference = stats.Where(s => s.GrainType.Contains("InferenceGrain", StringComparison.Ordinal) && s.GrainId.Key.ToString()!.StartsWith("tiny-mlp/", StringComparison.Ordinal)).ToList();
        var single = Assert.Single(inference);
        Assert.Equal($"tiny-mlp/{GpuSilo.ToParsableString()}", single.GrainId.Key.ToString());
        Assert.Equal(GpuSilo, single.SiloAddress);
    }
}
