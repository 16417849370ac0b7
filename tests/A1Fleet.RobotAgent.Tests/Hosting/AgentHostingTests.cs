using A1Fleet.Datasets.LeRobot;
using A1Fleet.RobotAgent.Hosting;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tests.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace A1Fleet.RobotAgent.Tests.Hosting;

/// <summary>The agent as the a1-agent process hosts it: options from configuration, recorder and runner from the container.</summary>
public sealed class AgentHostingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "a1fleet-agent-host-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task HostedAgent_WithRecordDirectory_RecordsAndShutsDownCleanlyKeepingTheLastEpisode()
    {
        var grain = new FakeRobotGrain();
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["A1Fleet:Agent:RobotId"] = "franka-host",
            ["A1Fleet:Agent:Embodiment"] = "Franka",
            ["A1Fleet:Agent:ModelId"] = grain.Model.ModelId,
            ["A1Fleet:Recording:Directory"] = _root,
            ["A1Fleet:Recording:MaxEpisodeSeconds"] = "1",
            ["A1Fleet:Recording:MinEpisodeFrames"] = "5",
        });
        builder.Services.AddSingleton<IGrainFactory>(new FakeGrainFactory(grain));
        builder.Services.AddA1FleetRobotAgent();

        var host = builder.Build();
        await host.StartAsync();
        var runner = host.Services.GetRequiredService<RobotAgentRunner>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (runner.Metrics.ChunksExecuted < 30)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the agent did not run: {runner.Snapshot()}");
            await Task.Delay(50);
        }

        var recorder = host.Services.GetRequiredService<EpisodeRecorder>();
        await host.StopAsync();

        // The container disposes the runner twice (itself and as a hosted service) and then the recorder, which writes the last episode.
        await ((IAsyncDisposable)host).DisposeAsync();

        var summary = recorder.Summary();
        Assert.Equal(0, summary.EpisodesFailed);
        var dataset = LeRobotDataset.Open(recorder.DatasetDirectory(grain.Model.ModelId, Grains.Embodiment.Franka));
        Assert.Equal(summary.EpisodesWritten, dataset.Episodes.Count);
        Assert.True(dataset.Episodes.Count >= 2, $"expected 2+ episodes, got {dataset.Episodes.Count}");
        Assert.False(File.Exists(Path.Combine(dataset.Directory, EpisodeRecorder.LockFile)));
    }

    [Fact]
    public async Task HostedAgent_BadRecordingOptions_StartFailsWithEveryProblem()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["A1Fleet:Agent:RobotId"] = "franka-host",
            ["A1Fleet:Recording:Directory"] = _root,
            ["A1Fleet:Recording:MaxEpisodeSeconds"] = "-1",
            ["A1Fleet:Recording:MinEpisodeFrames"] = "0",
        });
        builder.Services.AddSingleton<IGrainFactory>(new FakeGrainFactory(new FakeRobotGrain()));
        builder.Services.AddA1FleetRobotAgent();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("MaxEpisodeSeconds -1", error.Message, StringComparison.Ordinal);
        Assert.Contains("MinEpisodeFrames 0", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
