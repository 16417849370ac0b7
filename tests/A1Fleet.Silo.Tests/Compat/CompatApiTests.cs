using System.Net;
using System.Net.Http.Json;
using A1Fleet.Silo.Tests.RobotGateway;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.Operator;
using A1Fleet.Operator.Client;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>Robot profiles through the operator API and a1ctl: roles, validation naming the field, audit, presets.</summary>
public sealed class CompatApiTests : IAsyncLifetime
{
    private static readonly string[] DroidCameras = ["observation/exterior_image_1_left", "observation/wrist_image_left"];
    private CompatTestSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await CompatTestSilo.StartAsync();

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private LoopbackSilo Silo => _silo.Gateway.Silo;

    private async Task<string> KeyAsync(string name, string role)
    {
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        return (await new OperatorClient(admin).CreateApiKey(name, role, CancellationToken.None)).Key;
    }

    private async Task<(int Code, string Output, string Error)> A1ctl(string key, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OperatorCommands.RunAsync(["--url", Silo.Url, "--api-key", key, .. args], output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task SetProfile_ViewerRefusedOperatorStored_AndAudited()
    {
        var robotId = GatewayTestSilo.NewRobotId();
        using var asViewer = Silo.CreateClient(await KeyAsync("view-" + robotId, "viewer"));
        using var asOperator = Silo.CreateClient(await KeyAsync("op-" + robotId, "operator"));
        var path = $"/api/robots/{robotId}/compat";

        var refused = await asViewer.PutAsJsonAsync(path, new { preset = "openpi-droid", modelId = "tiny-fm" });
        var stored = await asOperator.PutAsJsonAsync(path, new { preset = "openpi-droid", modelId = "tiny-fm", instructionSource = "task" });

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        var profile = await new OperatorClient(asViewer).CompatProfile(robotId, CancellationToken.None);
        Assert.Equal(("openpi", "openpi-droid", "task"), (profile.Protocol, profile.Layout, profile.InstructionSource));
        // One source per model camera, in model order: the preset's first ones.
        Assert.Equal(DroidCameras.Take(_silo.Model.Cameras.Length), profile.Cameras);
        Assert.StartsWith("op-" + robotId, profile.UpdatedBy);
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        var audit = await new OperatorClient(admin).Audit(null, 200, CancellationToken.None);
        Assert.Contains(audit, e => e is { Method: "PUT", Route: "/api/robots/{robotId}/compat", Status: 200 } && e.Target!.Contains(robotId));
        Assert.Contains(audit, e => e is { Method: "PUT", Route: "/api/robots/{robotId}/compat", Status: 403, Role: "viewer" });
    }

    [Theory]
    [InlineData("""{"preset":"openpi-nope","modelId":"tiny-fm"}""", "preset")]
    [InlineData("""{"preset":"openpi-libero","modelId":"no-such-model"}""", "modelId")]
    [InlineData("""{"preset":"openpi-libero","modelId":"tiny-fm","cameras":["a","b","c","d","e"]}""", "cameras")]
    [InlineData("""{"preset":"a1-aloha","modelId":"tiny-fm","cameras":["nose"]}""", "cameras")]
    [InlineData("""{"preset":"openpi-libero","modelId":"tiny-fm","metadata":[1,2]}""", "metadata")]
    [InlineData("""{"preset":"openpi-libero","modelId":"tiny-fm","instructionSource":"whatever"}""", "instructionSource")]
    [InlineData("""{"preset":"openpi-libero","modelId":"tiny-fm","controlHz":-1}""", "controlHz")]
    public async Task SetProfile_BadField_Is400NamingItAndStoresNothing(string body, string field)
    {
        var robotId = GatewayTestSilo.NewRobotId();
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);

        var response = await admin.PutAsync($"/api/robots/{robotId}/compat", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(field, await response.Content.ReadAsStringAsync());
        Assert.Null(await _silo.Grains.GetGrain<ICompatProfileGrain>(robotId).Get());
    }

    [Fact]
    public async Task A1ctl_CompatSetShowPresetsClear_RoundTrip()
    {
        var robotId = GatewayTestSilo.NewRobotId();

        var set = await A1ctl(LoopbackSilo.AdminKey, "compat", "set", robotId, "--preset", "a1-arx5", "--model", "tiny-fm", "--embodiment", "agibot", "--control-hz", "30");
        var show = await A1ctl(LoopbackSilo.AdminKey, "compat", "show", robotId);
        var presets = await A1ctl(LoopbackSilo.AdminKey, "compat", "presets");
        var clear = await A1ctl(LoopbackSilo.AdminKey, "compat", "clear", robotId);

        Assert.True(set.Code == 0, set.Error);
        Assert.Contains("a1-http (layout a1-arx5)", show.Output);
        Assert.Contains("right_hand, left_hand, high", show.Output);
        Assert.Contains("openpi-aloha", presets.Output);
        Assert.Equal(0, clear.Code);
        Assert.Null(await _silo.Grains.GetGrain<ICompatProfileGrain>(robotId).Get());
    }

    [Fact]
    public async Task A1ctlRobots_RobotDrivenThroughTheA1Endpoint_ShowsTheProtocol()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero");
        await PythonClient.RunAsync("a1_client.py", ["serve", _silo.A1Url(robotId, key), _silo.A1Config(2, extra: new { requests = 1 })]);

        var robots = await A1ctl(LoopbackSilo.AdminKey, "robots", $"robot:{robotId}");

        Assert.Contains(" via ", robots.Output);
        Assert.Contains("a1-http", robots.Output);
    }
}
