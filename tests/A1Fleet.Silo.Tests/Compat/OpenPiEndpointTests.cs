using System.Text.Json;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>
/// The openpi-compatible endpoint on the real silo host, driven by an independent Python client written from openpi's
/// documented wire format (Compat/clients/openpi_client.py: websockets, msgpack, numpy).
/// </summary>
public sealed class OpenPiEndpointTests : IAsyncLifetime
{
    private CompatTestSilo _silo = null!;

    // The fuzz test opens thousands of connections for a few robots: far above the default request rate.
    public async Task InitializeAsync() => _silo = await CompatTestSilo.StartAsync(
        "--A1Fleet:RobotGateway:RequestsPerSecond", "100000", "--A1Fleet:RobotGateway:RequestBurst", "1000000");

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private Task<JsonElement> Client(string scenario, string key, string config, Func<string, Task>? onWait = null, bool expectSuccess = true) =>
        PythonClient.RunAsync("openpi_client.py", [scenario, _silo.OpenPiUrl, key, config], onWait, expectSuccess);

    [Theory]
    [InlineData("openpi-libero", "libero", false)]
    [InlineData("openpi-droid", "droid", false)]
    [InlineData("openpi-aloha", "aloha", true)]
    public async Task Serve_ShippedLayout_MetadataFirstThenActionsWithTimings(string preset, string layout, bool chw)
    {
        var metadata = preset == "openpi-aloha" ? JsonDocument.Parse("""{"reset_pose":[0,-1.5,1.5,0,0,0]}""").RootElement : JsonDocument.Parse("""{"robot":"lab-3","hz":15}""").RootElement;
        var (robotId, key) = await _silo.RobotAsync(preset, metadata: metadata);

        var result = await Client("serve", key, _silo.OpenPiConfig(layout, new { chw, requests = 3, metadata }));

        Assert.Equal(3, result.GetProperty("requests").GetInt32());
        var status = await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        Assert.Equal(3, status.Counters.Chunks);
        // The connection closed: its lease was given back.
        Assert.Null(status.AgentId);
    }

    [Fact]
    public async Task Healthz_PlainGet_Answers200Ok()
    {
        var result = await Client("healthz", "", "{}");

        Assert.True(result.GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Handshake_WithoutKeyWrongKeyOrRevokedKey_Is401AndNothingServed()
    {
        var (robotId, key) = await _silo.RobotAsync("openpi-libero");
        var config = _silo.OpenPiConfig("libero");

        Assert.Equal(401, (await Client("refused", "", config)).GetProperty("status").GetInt32());
        Assert.Equal(401, (await Client("refused", "a1r_notacredential", config)).GetProperty("status").GetInt32());
        await _silo.Gateway.Credentials.RevokeAsync(key);
        Assert.Equal(401, (await Client("refused", key, config)).GetProperty("status").GetInt32());

        var status = await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        Assert.Equal(0, status.Epoch);
    }

    [Fact]
    public async Task Handshake_RobotWithoutProfile_IsRefusedWith412()
    {
        var robotId = A1Fleet.Silo.Tests.RobotGateway.GatewayTestSilo.NewRobotId();
        var key = await _silo.Gateway.Credentials.IssueAsync(robotId);

        var result = await Client("refused", key, _silo.OpenPiConfig("libero"));

        Assert.Equal(412, result.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("truncated", "frame: is not valid msgpack")]
    [InlineData("text", "text frame")]
    [InlineData("state_dim", "observation/state: has 10 values")]
    [InlineData("str_keys", "observation/image: is not a numpy array")]
    [InlineData("state_out_of_range", "state[0]: 45 is outside joint 'panda_joint1'")]
    public async Task BadFrame_AnsweredWithAnErrorTextFrameAndClose1011_ThenTheRobotIsServedAgain(string bad, string expected)
    {
        var (_, key) = await _silo.RobotAsync("openpi-libero");

        var result = await Client("bad_frame", key, _silo.OpenPiConfig("libero", new { bad, expect = expected.Replace("10", (_silo.Model.StateDim + 3).ToString()) }));

        Assert.Contains(expected.Split(':')[0], result.GetProperty("message").GetString());
        await Client("serve", key, _silo.OpenPiConfig("libero", new { requests = 1 }));
    }

    [Fact]
    public async Task Serve_PromptWinsAndNoTaskAssigned_IsServedUnderThePrompt()
    {
        var (robotId, key) = await _silo.RobotAsync("openpi-libero", task: null);

        await Client("serve", key, _silo.OpenPiConfig("libero", new { requests = 2 }));

        Assert.Equal(2, (await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Counters.Chunks);
    }

    [Fact]
    public async Task Serve_AssignedTaskWinsAndNoTaskAssigned_HoldsWithAnErrorFrame()
    {
        var (robotId, key) = await _silo.RobotAsync("openpi-libero", task: null, instructionSource: "task");

        var result = await Client("bad_frame", key, _silo.OpenPiConfig("libero", new { bad = "valid", expect = "no assigned task" }));

        Assert.Contains("no assigned task", result.GetProperty("message").GetString());
        Assert.Equal(0, (await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Counters.Chunks);
    }

    [Fact]
    public async Task Serve_PromptWithAControlCharacter_RefusedNamingThePrompt_NothingInferred()
    {
        var (robotId, key) = await _silo.RobotAsync("openpi-libero", task: null);

        var result = await Client("bad_frame", key, _silo.OpenPiConfig("libero", new { bad = "valid", prompt = "go\u001b[2J", expect = "prompt contains a control character" }));

        Assert.Contains("U+001B", result.GetProperty("message").GetString());
        Assert.Equal(0, (await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Counters.Chunks);
    }

    [Fact]
    public async Task Frame_AfterTheCredentialWasRevoked_AnsweredWithAnErrorAnd1011()
    {
        var (_, key) = await _silo.RobotAsync("openpi-libero");

        var result = await Client("estop", key, _silo.OpenPiConfig("libero", new { expect = "unknown or revoked" }), async _ => await _silo.Gateway.Credentials.RevokeAsync(key));

        Assert.Contains("revoked", result.GetProperty("message").GetString());
    }

    [Fact]
    public async Task EStop_MidConnection_NextRequestGetsAnErrorFrameAndClose1011_NoActions()
    {
        var (robotId, key) = await _silo.RobotAsync("openpi-droid");
        var robot = _silo.Grains.GetGrain<IRobotGrain>(robotId);
        RobotStatus? during = null;

        var result = await Client("estop", key, _silo.OpenPiConfig("droid"), async _ =>
        {
            during = await robot.GetStatus();
            await robot.EStop("test");
        });

        Assert.Contains("e-stopped", result.GetProperty("message").GetString());
        Assert.Equal("openpi", AgentProtocols.Of(during!.AgentId));
        var status = await robot.GetStatus();
        Assert.Equal(1, status.Counters.Chunks);
        Assert.True(status.EStopped);
    }

    [Fact]
    public async Task Fuzz_ThousandsOfBadFrames_EachAnsweredWithAnErrorAnd1011_WhileAGoodClientKeepsBeingServed()
    {
        var (_, bad) = await _silo.RobotAsync("openpi-libero");
        var (goodRobot, good) = await _silo.RobotAsync("openpi-libero");

        var result = await Client("fuzz", bad, _silo.OpenPiConfig("libero", new { count = 2000, good_key = good, workers = 1 }));

        Assert.Equal(2000, result.GetProperty("bad_frames").GetInt32());
        Assert.True(result.GetProperty("good_served").GetInt32() >= 5);
        Assert.Equal(result.GetProperty("good_served").GetInt32(), (await _silo.Grains.GetGrain<IRobotGrain>(goodRobot).GetStatus()).Counters.Chunks);
        // The silo still serves the fuzzed robot afterwards.
        await Client("serve", bad, _silo.OpenPiConfig("libero", new { requests = 1 }));
    }
}
