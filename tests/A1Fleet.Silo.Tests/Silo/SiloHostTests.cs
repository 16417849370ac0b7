using System.Net;
using A1Fleet.Grains;
using A1Fleet.Operator;
using A1Fleet.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>The real silo host on loopback (Kestrel, localhost clustering, memory storage) driven through HTTP and a1ctl.</summary>
public sealed class SiloHostTests : IAsyncLifetime
{
    private LoopbackSilo _silo = null!;
    private string _url = "";
    private WebApplication _app = null!;

    public async Task InitializeAsync()
    {
        _silo = await LoopbackSilo.StartAsync();
        _url = _silo.Url;
        _app = _silo.App;
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task Health_BecomesReadyOnceTheModelIsRegistered()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_url) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
        await _silo.WaitReadyAsync();
        var openApi = await http.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/api/robots", openApi, StringComparison.Ordinal);
        Assert.Contains("/api/models/{modelId}/live", openApi, StringComparison.Ordinal);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("orleans_", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1ctl_OperatorCommands_WorkAndRejectBadInputWithoutChangingAnything()
    {
        await _silo.WaitReadyAsync();
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var robotId = "cli-" + Guid.NewGuid().ToString("N")[..6];
        var lease = await grains.GetGrain<IRobotGrain>(robotId).Bind(new AgentRegistration("agent", Embodiment.Dobot, "tiny-fm", 0, 0, ["front"], 20, ["line-1"]), null);

        var (code, output, error) = await Ctl("assign", $"robot:{robotId}", "put", "the", "cup", "on", "the", "coaster");
        Assert.Equal(0, code);
        Assert.Contains(robotId, output, StringComparison.Ordinal);
        Assert.Equal("put the cup on the coaster", (await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).Task?.Instruction);

        // Refused on the command line (exit 2), before anything is sent.
        (code, _, error) = await Ctl("assign", "colour:red", "wave");
        Assert.Equal(2, code);
        Assert.Contains("selector", error, StringComparison.Ordinal);

        (code, output, _) = await Ctl("assign", "tag:nobody-has-this", "wave");
        Assert.Equal(0, code);
        Assert.Contains("stored, 0 robots now", output, StringComparison.Ordinal);
        var standing = Assert.Single(await grains.GetGrain<IFleetGrain>("default").ListAssignments(), a => a.Selector.Value == "nobody-has-this");
        (code, output, _) = await Ctl("assignments");
        Assert.Equal(0, code);
        Assert.Contains("tag:nobody-has-this", output, StringComparison.Ordinal);
        (code, _, _) = await Ctl("assignments", "delete", standing.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, code);
        (code, _, error) = await Ctl("assignments", "delete", standing.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);

        (code, _, error) = await Ctl("budget", $"robot:{robotId}", "-3");
        Assert.Equal(2, code);
        Assert.Contains("invalid", error, StringComparison.Ordinal);
        Assert.Equal(200, (await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).LatencyBudgetMs);

        (code, output, _) = await Ctl("estop", "tag:line-1", "--deadline-ms", "3000");
        Assert.Equal(0, code);
        Assert.Contains("1 of 1 robot(s) confirmed", output, StringComparison.Ordinal);
        Assert.True((await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).EStopped);

        (code, _, error) = await Ctl("estop", "tag:line-1", "--deadline-ms", "999999");
        Assert.Equal(1, code);
        Assert.Contains("deadlineMs", error, StringComparison.Ordinal);

        // The agent's heartbeat, which no agent sends here: the commands before may have taken a lease's time.
        Assert.True(await grains.GetGrain<IRobotGrain>(robotId).Heartbeat(lease.Epoch));
        (code, output, _) = await Ctl("robots", "embodiment:dobot");
        Assert.Equal(0, code);
        Assert.Contains("E-STOP", output, StringComparison.Ordinal);
        Assert.Contains("online", output, StringComparison.Ordinal);

        (code, output, _) = await Ctl("lease", "release", robotId, "--to", "agent-2");
        Assert.Equal(0, code);
        Assert.Contains("agent-2", output, StringComparison.Ordinal);
        Assert.Null((await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).AgentId);
        await Assert.ThrowsAsync<LeaseHeldException>(() => grains.GetGrain<IRobotGrain>(robotId).Bind(new AgentRegistration("agent", Embodiment.Dobot, "tiny-fm", 0, 0, ["front"], 20, ["line-1"]), null));
        await grains.GetGrain<IRobotGrain>(robotId).Bind(new AgentRegistration("agent-2", Embodiment.Dobot, "tiny-fm", 0, 0, ["front"], 20, ["line-1"]), null);
        using (var http = _silo.CreateClient(LoopbackSilo.AdminKey))
        {
            // The embodiment by the name selectors use, not the enum's number.
            var robots = await http.GetStringAsync("/api/robots");
            Assert.Contains("\"embodiment\":\"dobot\"", robots, StringComparison.Ordinal);

            // The body is optional: curl -X POST .../lease/release releases to any agent.
            var bare = await http.PostAsync($"/api/robots/{robotId}/lease/release", null);
            Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
            Assert.Null((await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).AgentId);
        }

        (code, _, error) = await Ctl("lease", "release", "no-such-robot");
        Assert.Equal(1, code);
        Assert.Contains("unknown", error, StringComparison.Ordinal);

        (code, output, _) = await Ctl("models");
        Assert.Equal(0, code);
        Assert.Contains("tiny-fm", output, StringComparison.Ordinal);
        Assert.Contains("exp-r0.7-cosine", output, StringComparison.Ordinal);

        (code, _, error) = await Ctl("live", "tiny-fm", "no-such-version");
        Assert.Equal(1, code);
        Assert.Contains("no threshold version", error, StringComparison.Ordinal);

        (code, _, error) = await Ctl("thresholds", "other-model");
        Assert.Equal(1, code);
        Assert.Contains("not served", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1ctl_Calibrate_RunsAJobOnTheClusterAndPublishes()
    {
        await _silo.WaitReadyAsync();
        var dataset = ShippedData.TinyFmDataset;

        var (code, output, error) = await Ctl("calibrate", "tiny-fm", dataset, "--shards", "2", "--r", "1.0,0.1");
        Assert.True(code == 0, error);
        Assert.Contains("Completed", output, StringComparison.Ordinal);
        Assert.Contains("exp-r1.0-cosine", output, StringComparison.Ordinal);
        Assert.Contains("exp-r0.1-cosine", output, StringComparison.Ordinal);

        (code, _, error) = await Ctl("calibrate", "tiny-fm", "/no/such/dataset");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);

        (code, _, error) = await Ctl("calibration", "no-such-job");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1ctl_CalibrateCtrlC_CancelsTheJobOnTheCluster()
    {
        await _silo.WaitReadyAsync();
        var jobId = "a1ctl-ctrl-c-" + Guid.NewGuid().ToString("N")[..8];
        using var ctrlC = new CancellationTokenSource();
        // "Ctrl-C" as soon as the bar (drawn as on a terminal) shows the job running.
        using var error = new CalibrationJobs.ClusterCalibrateTests.CancelOnWrite("samples,", ctrlC);
        using var output = new StringWriter();

        var code = await OperatorCommands.RunAsync(["--url", _url, "calibrate", "tiny-fm", ShippedData.TinyFmDataset, "--r", "1.0", "--shards", "1", "--batch", "1", "--job-id", jobId],
            output, error, ctrlC.Token, progress: true);

        Assert.Equal(OperatorCommands.Canceled, code);
        Assert.Contains($"canceled: calibration job {jobId} is Canceled on the cluster; nothing was published", error.ToString(), StringComparison.Ordinal);
        var job = _app.Services.GetRequiredService<IGrainFactory>().GetGrain<ICalibrationJobGrain>(jobId);
        var status = await A1Fleet.Testing.Calibration.CalibrationJobWait.FinishedAsync(job);
        Assert.Equal(CalibrationJobState.Canceled, status.State);
        Assert.Empty(status.Published);
    }

    [Fact]
    public async Task A1ctl_CalibrationSchedule_SetRunShowClear_OverHttp()
    {
        await _silo.WaitReadyAsync();

        // An unknown family is refused on the command line (exit 2); a period below Orleans' reminder minimum by the silo (exit 1).
        var (code, _, error) = await Ctl("schedule-calibration", "tiny-fm", ShippedData.TinyFmDataset, "--every", "0.5", "--family", "weibull");
        Assert.Equal(2, code);
        Assert.Contains("--family weibull: unknown family 'weibull'", error, StringComparison.Ordinal);
        (code, _, error) = await Ctl("schedule-calibration", "tiny-fm", ShippedData.TinyFmDataset, "--every", "0.5");
        Assert.Equal(1, code);
        Assert.Contains("every 00:00:30 must be within 00:01:00", error, StringComparison.Ordinal);
        (code, _, error) = await Ctl("schedule-calibration", "no-such-model", ShippedData.TinyFmDataset, "--every", "60");
        Assert.Equal(1, code);
        Assert.Contains("model 'no-such-model' is not served by the cluster", error, StringComparison.Ordinal);
        (code, var output, _) = await Ctl("calibration-schedule", "tiny-fm");
        Assert.Equal(0, code);
        Assert.Contains("no calibration schedule", output, StringComparison.Ordinal);

        (code, output, error) = await Ctl("schedule-calibration", "tiny-fm", ShippedData.TinyFmDataset, "--every", "360", "--r", "0.4", "--shards", "2");
        Assert.True(code == 0, error);
        Assert.Contains("every 06:00:00, when the model or dataset changed", output, StringComparison.Ordinal);

        (code, output, error) = await Ctl("calibration-schedule", "tiny-fm", "--run-now");
        Assert.True(code == 0, error);
        Assert.StartsWith("Started (job tiny-fm.scheduled.", output, StringComparison.Ordinal);
        var jobId = output[(output.IndexOf("job ", StringComparison.Ordinal) + 4)..output.IndexOf(')', StringComparison.Ordinal)];
        await CalibrationJobWait.FinishedAsync(_app.Services.GetRequiredService<IGrainFactory>().GetGrain<ICalibrationJobGrain>(jobId));

        (code, output, _) = await Ctl("calibration-schedule", "tiny-fm", "--run-now");
        Assert.Equal(0, code);
        Assert.StartsWith($"SkippedUnchanged (job {jobId}): model and dataset unchanged", output, StringComparison.Ordinal);

        (code, output, _) = await Ctl("calibration-schedule", "tiny-fm");
        Assert.Contains("Started", output, StringComparison.Ordinal);
        Assert.Contains("SkippedUnchanged", output, StringComparison.Ordinal);

        (code, output, _) = await Ctl("unschedule-calibration", "tiny-fm");
        Assert.Equal(0, code);
        Assert.Contains("no calibration schedule", output, StringComparison.Ordinal);
        (code, _, error) = await Ctl("calibration-schedule", "tiny-fm", "--run-now");
        Assert.Equal(1, code);
        Assert.Contains("has no calibration schedule", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SiloHostOptionsValidator_BadSettings_ListsEveryProblem()
    {
        var result = new SiloHostOptionsValidator().Validate(null, new SiloHostOptions
        {
            Clustering = "zookeeper",
            Storage = "disk",
            SiloPort = 70000,
            GatewayPort = 70000,
            AdvertisedAddress = "not-an-ip",
        });
        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        foreach (var expected in new[] { "Clustering", "Storage", "SiloPort", "both", "AdvertisedAddress" })
        {
            Assert.Contains(expected, failures, StringComparison.Ordinal);
        }
    }

    private async Task<(int Code, string Output, string Error)> Ctl(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OperatorCommands.RunAsync(["--url", _url, .. args], output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }
}
