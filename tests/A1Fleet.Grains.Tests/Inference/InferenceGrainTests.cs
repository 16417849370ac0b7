using A1Fleet.Grains;
using Orleans.Runtime;

namespace A1Fleet.Grains.Tests.Inference;

[Collection(FleetClusterCollection.Name)]
public sealed class InferenceGrainTests(FleetClusterFixture fixture)
{
    [Fact]
    public async Task Act_ManyRobotsAtOnce_AreBatchedTogether()
    {
        var agents = Enumerable.Range(0, 8).Select(i => new TestAgent(fixture.Client, $"batch-{Guid.NewGuid():N}"[..16] + i)).ToList();
        foreach (var agent in agents)
        {
            await agent.BindAsync();
            await agent.Robot.AssignTask("pick up the green block", "test");
        }

        var chunks = await Task.WhenAll(agents.Select(a => a.ActAsync()));

        Assert.All(chunks, c => Assert.Equal(ChunkStatus.Ok, c.Status));
        Assert.Contains(chunks, c => c.Stats!.BatchSize > 1);
    }

    [Fact]
    public async Task InferenceGrains_ActivateOnlyOnTheGpuSilo()
    {
        var agent = new TestAgent(fixture.Client, "placement-" + Guid.NewGuid().ToString("N")[..8], model: "tiny-mlp");
        await agent.BindAsync();
        await agent.Robot.AssignTask("open the drawer", "test");
        Assert.Equal(ChunkStatus.Ok, (await agent.ActAsync()).Status);

        var management = fixture.Client.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var inference = stats.Where(s => s.GrainType.Contains("InferenceGrain", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(inference);
        var gpuSilo = fixture.Cluster.Silos.Single(s => s.Name == fixture.GpuSiloName).SiloAddress;
        Assert.All(inference, s => Assert.Equal(gpuSilo, s.SiloAddress));
    }

    [Fact]
    public async Task ModelGrain_PublishNewVersion_InferenceSwitchesWithoutRestart()
    {
        var agent = new TestAgent(fixture.Client, "thr-" + Guid.NewGuid().ToString("N")[..8], model: "tiny-mlp");
        await agent.BindAsync();
        await agent.Robot.AssignTask("push the blue block", "test");
        var before = await agent.ActAsync();
        var model = fixture.Client.GetGrain<IModelGrain>("tiny-mlp");
        var live = (await model.GetLive())!;

        var info = await model.GetInfo();
        var other = info.Versions.First(v => !v.Live);
        await model.SetLive(other.Version);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            ActionChunk after;
            do
            {
                after = await agent.ActAsync();
            }
            while (after.Stats!.ThresholdVersion != other.Version && DateTime.UtcNow < deadline);

            Assert.Equal(live.Version, before.Stats!.ThresholdVersion);
            Assert.Equal(other.Version, after.Stats.ThresholdVersion);
            Assert.Equal(ChunkStatus.Ok, after.Status);
        }
        finally
        {
            await model.SetLive(live.Version);
        }
    }

    [Fact]
    public async Task ModelGrain_SetLiveUnknownVersion_ThrowsAndKeepsTheLiveOne()
    {
        var model = fixture.Client.GetGrain<IModelGrain>("tiny-fm");
        var live = (await model.GetLive())!.Version;
        await Assert.ThrowsAnyAsync<ArgumentException>(() => model.SetLive("does-not-exist"));
        Assert.Equal(live, (await model.GetLive())!.Version);
        var info = await model.GetInfo();
        Assert.True(info.Versions.Count >= 4, $"{info.Versions.Count} versions");
        Assert.Single(info.Versions, v => v.Live);
    }
}
