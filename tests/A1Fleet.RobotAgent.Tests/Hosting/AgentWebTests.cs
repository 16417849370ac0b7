using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Diagnostics;
using A1Fleet.RobotAgent.Host;
using A1Fleet.RobotAgent.Hosting;
using A1Fleet.RobotAgent.Tests.Cluster;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Tests.Hosting;

/// <summary>The agent's HTTP listener as a1-agent runs it (real Kestrel on loopback), with the cluster replaced by the fake robot grain.</summary>
public sealed class AgentWebTests
{
    [Fact]
    public async Task Listener_Default_BindsLoopbackServesHealthAndTheLocalStop()
    {
        var grain = new FakeRobotGrain();
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["A1Fleet:Agent:RobotId"] = "franka-web",
            ["A1Fleet:Agent:ModelId"] = grain.Model.ModelId,
            ["A1Fleet:AgentHost:MetricsPort"] = "0",
        });
        builder.Services.AddSingleton<IGrainFactory>(new FakeGrainFactory(grain));
        builder.Services.AddA1FleetRobotAgent();
        builder.AddA1FleetAgentWeb(builder.WebHost);
        await using var app = builder.Build();
        app.MapA1FleetAgentEndpoints();
        await app.StartAsync();

        var address = Assert.Single(app.Urls);
        Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = new Uri(address) };
        var runner = app.Services.GetRequiredService<RobotAgentRunner>();

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, $"never ready: {runner.Snapshot()}");
            await Task.Delay(50);
        }

        var stopped = await (await http.PostAsync("/local/estop", null)).Content.ReadFromJsonAsync<LocalStopState>();
        Assert.True(stopped!.LocalStop);
        Assert.Equal("http", stopped.LocalStopSource);
        Assert.True(runner.LocalStop.Engaged);
        while (runner.Snapshot().Phase != AgentPhase.LocalStop)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the loop did not stop: {runner.Snapshot()}");
            await Task.Delay(20);
        }

        var resumed = await (await http.PostAsync("/local/resume", null)).Content.ReadFromJsonAsync<LocalStopState>();
        Assert.False(resumed!.LocalStop);
        Assert.Equal(1, resumed.LocalStops);
        Assert.False(runner.LocalStop.Engaged);

        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("a1fleet_agent_joint_acceleration_limit", metrics, StringComparison.Ordinal);
        Assert.Contains("a1fleet_agent_local_stops", metrics, StringComparison.Ordinal);
        await app.StopAsync();
    }

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("192.168.0.7")]
    [InlineData("::ffff:10.0.0.1")]
    public async Task LoopbackOnlyFilter_RemoteCaller_ForbiddenWithAProblemAndNothingRuns(string remote)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Request.Path = "/local/resume";
        var ran = false;

        var result = await new LoopbackOnlyFilter().InvokeAsync(new DefaultEndpointFilterInvocationContext(context), _ =>
        {
            ran = true;
            return ValueTask.FromResult<object?>(null);
        });

        Assert.False(ran);
        var problem = Assert.IsType<ProblemHttpResult>(result);
        Assert.Equal(StatusCodes.Status403Forbidden, problem.StatusCode);
        Assert.Contains(remote, problem.ProblemDetails.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task LoopbackOnlyFilter_LocalCaller_Passes(string remote)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        var ran = false;

        await new LoopbackOnlyFilter().InvokeAsync(new DefaultEndpointFilterInvocationContext(context), _ =>
        {
            ran = true;
            return ValueTask.FromResult<object?>(null);
        });

        Assert.True(ran);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("")]
    [InlineData("127.0.0.300")]
    public void Validate_ListenAddressNotAnIp_FailsNamingIt(string address)
    {
        var result = new AgentHostOptionsValidator().Validate(null, new AgentHostOptions { ListenAddress = address });

        Assert.True(result.Failed);
        Assert.Contains($"ListenAddress '{address}'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_ListenOnLoopbackOnly()
    {
        var options = new AgentHostOptions { Gateway = "http://127.0.0.1:8445" };

        Assert.Equal("127.0.0.1", options.ListenAddress);
        var validation = new AgentHostOptionsValidator(_ => "a1r_credential").Validate(null, options);
        Assert.True(validation.Succeeded, validation.FailureMessage);
    }

    [Fact]
    public async Task Sigusr1_SentToTheProcess_EngagesTheLocalStop()
    {
        if (LocalStopSignal.SigUsr1 is null)
        {
            return; // Windows: no SIGUSR1, the local stop is HTTP only (this suite runs on Linux in CI).
        }

        var runner = new RobotAgentRunner(new FakeGrainFactory(new FakeRobotGrain()), Options.Create(new AgentOptions { RobotId = "franka-signal" }),
            TimeProvider.System, NullLogger<RobotAgentRunner>.Instance);
        using var signal = new LocalStopSignal(runner, NullLogger<LocalStopSignal>.Instance);
        await signal.StartAsync(CancellationToken.None);

        // The handler cancels SIGUSR1's default action (terminate): this test process surviving the signal is part of the test.
        using (var kill = Process.Start("kill", $"-USR1 {Environment.ProcessId}"))
        {
            await kill.WaitForExitAsync();
            Assert.Equal(0, kill.ExitCode);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!runner.LocalStop.Engaged)
        {
            Assert.True(DateTime.UtcNow < deadline, "SIGUSR1 did not engage the local stop");
            await Task.Delay(20);
        }

        Assert.Equal("signal SIGUSR1", runner.LocalStop.Source);
        Assert.Equal(1, runner.Metrics.LocalStops);
        await signal.StopAsync(CancellationToken.None);
        await runner.DisposeAsync();
    }
}
