using System.Text.Json;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>
/// The A1-compatible HTTP endpoint on the real silo host, driven by an independent Python client written from A1's
/// documented API (Compat/clients/a1_client.py: requests, numpy; the credential in the URL as requests sends it).
/// </summary>
public sealed class A1HttpEndpointTests : IAsyncLifetime
{
    private CompatTestSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await CompatTestSilo.StartAsync();

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private Task<JsonElement> Client(string scenario, string url, string config, Func<string, Task>? onWait = null) =>
        PythonClient.RunAsync("a1_client.py", [scenario, url, config], onWait);

    [Theory]
    [InlineData("a1-aloha", 3)]
    [InlineData("a1-franka", 3)]
    [InlineData("a1-libero", 2)]
    public async Task Inference_ShippedCameraOrder_AnswersA1FieldsWithOneRowPerChunkStep(string preset, int cameras)
    {
        var (robotId, key) = await _silo.RobotAsync(preset);

        var result = await Client("serve", _silo.A1Url(robotId, key), _silo.A1Config(cameras, extra: new { requests = 3 }));

        Assert.Equal(3, result.GetProperty("exit_layers").GetArrayLength());
        var status = await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        Assert.Equal(3, status.Counters.Chunks);
        // A1 has no connection: the session keeps the lease while requests come, under an agent id naming the protocol.
        Assert.Equal("a1-http", AgentProtocols.Of(status.AgentId));
    }

    [Fact]
    public async Task Inference_NarrowerProprioRow_AnswersThatManyColumns()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero");

        await Client("serve", _silo.A1Url(robotId, key), _silo.A1Config(2, proprio: 3, extra: new { requests = 1 }));
    }

    [Fact]
    public async Task Inference_InvalidBodies_Are422NamingTheFieldAsFastApiDoes()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero");

        var result = await Client("validation", _silo.A1Url(robotId, key), _silo.A1Config(2));

        Assert.Equal("missing", result.GetProperty("types").GetProperty("missing_instruction").GetString());
        Assert.Equal("value_error", result.GetProperty("types").GetProperty("proprio_outside_the_arm").GetString());
        Assert.Equal(0, (await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Counters.Requests);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/model_info")]
    [InlineData("inference")]
    public async Task AnyRoute_WithoutOrWithAWrongCredential_Is401AndNothingServed(string call)
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero");
        var config = _silo.A1Config(2, extra: new { call });

        var none = await Client("status", _silo.A1Url(), config);
        var wrong = await Client("status", _silo.A1Url(robotId, "a1r_wrong"), config);
        await _silo.Gateway.Credentials.RevokeAsync(key);
        var revoked = await Client("status", _silo.A1Url(robotId, key), config);

        foreach (var answer in new[] { none, wrong, revoked })
        {
            Assert.Equal(401, answer.GetProperty("status").GetInt32());
            Assert.StartsWith("Basic", answer.GetProperty("www_authenticate").GetString());
        }

        Assert.Equal(0, (await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Epoch);
    }

    [Fact]
    public async Task ModelInfoAndInference_RobotWithoutAServedModel_Are503ModelNotLoaded()
    {
        var robotId = A1Fleet.Silo.Tests.RobotGateway.GatewayTestSilo.NewRobotId();
        var key = await _silo.Gateway.Credentials.IssueAsync(robotId);

        var info = await Client("status", _silo.A1Url(robotId, key), _silo.A1Config(2, extra: new { call = "/model_info" }));
        var inference = await Client("status", _silo.A1Url(robotId, key), _silo.A1Config(2, extra: new { call = "inference" }));
        var health = await Client("status", _silo.A1Url(robotId, key), _silo.A1Config(2, extra: new { call = "/health" }));

        Assert.Equal(503, info.GetProperty("status").GetInt32());
        Assert.Equal("Model not loaded", info.GetProperty("body").GetProperty("detail").GetString());
        Assert.Equal(503, inference.GetProperty("status").GetInt32());
        Assert.Equal(200, health.GetProperty("status").GetInt32());
        Assert.False(health.GetProperty("body").GetProperty("model_loaded").GetBoolean());
    }

    [Fact]
    public async Task EStop_BetweenRequests_Is503NamingTheEStop_NoActions()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-franka");
        var robot = _silo.Grains.GetGrain<IRobotGrain>(robotId);

        var result = await Client("estop", _silo.A1Url(robotId, key), _silo.A1Config(3), async _ => await robot.EStop("test"));

        Assert.Contains("e-stopped", result.GetProperty("detail").GetString());
        Assert.Equal(1, (await robot.GetStatus()).Counters.Chunks);
    }
}
