using System.Net.Http.Json;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.RobotAgent;
using A1Fleet.RobotAgent.Cluster;
using A1Fleet.RobotAgent.Tasks;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using static A1Fleet.Silo.Tests.RobotGateway.GatewayTestSilo;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// The fleet demo's path for a Franka arm, on the shipped trained package: a loopback silo serving it with its calibrated
/// threshold sets, an agent running tabletop episodes and reaching the silo through the robot gateway, and the operator
/// API the live view's figures come from.
/// </summary>
public sealed class TabletopEpisodesThroughTheFleetTests : IAsyncLifetime
{
    private const string TrainedModelId = "franka-tabletop-fm";
    private GatewayTestSilo _gateway = null!;

    public async Task InitializeAsync() => _gateway = await StartAsync("--A1Fleet:Inference:ModelPackages:1", ShippedData.TrainedFm);

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task TrainedPackage_FrankaAgentOnTheTabletopTask_EpisodesAndSuccessesReachTheOperatorApi()
    {
        var robotId = NewRobotId();
        var key = await _gateway.Credentials.IssueAsync(robotId);
        await using var runner = new RobotAgentRunner(new GatewayChunkSourceFactory(_gateway.Channel.CreateCallInvoker(), key, TimeProvider.System),
            Options.Create(new AgentOptions
            {
                RobotId = robotId,
                Embodiment = Embodiment.Franka,
                ModelId = TrainedModelId,
                SimulatedTask = SimulatedTask.Tabletop,
                // Short episodes and frequent reports keep the test quick; success is still the world's decision.
                EpisodeSeconds = 0.5,
                ReportIntervalSeconds = 0.2,
                HoldPollSeconds = 0.1,
            }),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance);
        await runner.StartAsync(CancellationToken.None);
        await WaitFor(() => runner.Lease is not null, () => $"the agent did not bind: {runner.Snapshot()}");
        await _gateway.Grains.GetGrain<IRobotGrain>(robotId).AssignTask("touch the red block", "test");

        using var http = _gateway.Silo.CreateClient(LoopbackSilo.AdminKey);
        JsonObject robot = null!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            robot = (await http.GetFromJsonAsync<JsonObject>($"/api/robots/{robotId}"))!;
            if ((long)robot["counters"]!["episodes"]! >= 3)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"fewer than 3 episodes reached the robot grain: {robot.ToJsonString()}; agent: {runner.Snapshot()}");
            await Task.Delay(100);
        }

        await runner.StopAsync(CancellationToken.None);
        var counters = robot["counters"]!.AsObject();
        var episodes = (long)counters["episodes"]!;
        var successes = (long)counters["successes"]!;
        Assert.InRange(successes, 0, episodes);
        Assert.Equal((double)successes / episodes, (double)counters["successRate"]!, 9);
        Assert.Equal("touch the red block", (string?)robot["task"]!["instruction"]);
        Assert.Equal(TrainedModelId, (string?)robot["modelId"]);

        // What the agent counted, world outcome by world outcome, is what it reported (the grain may be a report behind).
        Assert.InRange(episodes, 3, runner.Metrics.Episodes);
        Assert.InRange(successes, runner.Metrics.Successes - (runner.Metrics.Episodes - episodes), runner.Metrics.Successes);

        // a1ctl robots shows them too: successes of episodes ended.
        var status = await _gateway.Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        using var table = new StringWriter();
        A1Fleet.Operator.OperatorCli.WriteRobots([status], table, A1Fleet.Operator.Table.Aligned);
        Assert.Contains("success", table.ToString().Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains($" {status.Counters.Successes}/{status.Counters.Episodes}", table.ToString(), StringComparison.Ordinal);

        // Served with its shipped calibrated thresholds: a live version, and requests that leave before the last layer.
        var model = (await http.GetFromJsonAsync<JsonObject>($"/api/models/{TrainedModelId}"))!;
        Assert.NotNull((string?)model["liveVersion"]);
        Assert.True(model["versions"]!.AsArray().Count >= 4, model.ToJsonString());
        Assert.True((long)counters["chunks"]! > 0, robot.ToJsonString());
        Assert.True((double)counters["meanExitLayer"]! < 7, $"every request ran all 8 layers: {robot.ToJsonString()}");
    }
}
