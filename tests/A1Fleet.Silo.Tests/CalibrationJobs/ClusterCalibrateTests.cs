using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.EarlyExit;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using A1Fleet.Operator.Client;

namespace A1Fleet.Silo.Tests.CalibrationJobs;

/// <summary>One real silo host on loopback for the calibration job's cluster-mode tests (they run one after another).</summary>
public sealed class ClusterCalibrateSilo : IAsyncLifetime
{
    public LoopbackSilo Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Silo = await LoopbackSilo.StartAsync();
        await Silo.WaitReadyAsync();
    }

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary>
/// The calibration job's exe, in process, in cluster mode (calibrate --cluster URL) against the real
/// silo host: submission through the operator API, progress, the table from the published sets, and
/// the errors an operator meets.
/// </summary>
public sealed class ClusterCalibrateTests(ClusterCalibrateSilo fixture) : IClassFixture<ClusterCalibrateSilo>, IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-calibrate-" + Guid.NewGuid().ToString("N"));
    private readonly HttpClient _http = fixture.Silo.CreateClient(LoopbackSilo.AdminKey);

    private LoopbackSilo Silo => fixture.Silo;

    [Fact]
    public async Task Calibrate_Cluster_ShowsProgressAndPrintsTheStandAloneTableFromTheStandAloneThresholds()
    {
        var standAloneOut = Path.Combine(_work, "stand-alone");
        var clusterOut = Path.Combine(_work, "cluster");
        // Batch 1 on both sides: ONNX Runtime's sums differ in the last bits between batch compositions.
        var standAlone = await RunAsync("calibrate", "--model", Silo.TinyFmDirectory, "--dataset", ShippedData.TinyFmDataset,
            "--families", "exp,gauss", "--r", "1.0,0.4", "--batch", "1", "--threads", "1", "--out", standAloneOut);
        Assert.True(standAlone.Code == 0, standAlone.Error);

        var cluster = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", ShippedData.TinyFmDataset,
            "--families", "exp,gauss", "--r", "1.0,0.4", "--batch", "1", "--shards", "3", "--out", clusterOut);

        Assert.True(cluster.Code == 0, cluster.Error);
        Assert.Matches(@"calibration job tiny-fm-\d{14}-[0-9a-f]{6}: 36 calibration samples in 3 shards", cluster.Output);
        Assert.Contains("cluster job", cluster.Error, StringComparison.Ordinal);
        Assert.Contains("36/36 samples", cluster.Error, StringComparison.Ordinal);
        Assert.Contains("3/3 shards done, 0 running", cluster.Error, StringComparison.Ordinal);
        Assert.Matches(@"calibration pass: 36 samples in [\d.]+ s = [\d.]+ samples/s \(on the cluster: 3 shards", cluster.Output);
        Assert.Contains("threshold sets, expected on the 36 calibration samples (Ln = share exiting at 0-based LM layer n)", cluster.Output, StringComparison.Ordinal);
        var published = await Client().Model("tiny-fm", CancellationToken.None);
        foreach (var name in new[] { "exp-r1.0-cosine", "exp-r0.4-cosine", "gauss-r1.0-cosine", "gauss-r0.4-cosine" })
        {
            // Same numbers, same table row: the expected row is the first row of that set in each output.
            Assert.Equal(Row(standAlone.Output, name), Row(cluster.Output, name));
            var expected = ThresholdSet.Load(Path.Combine(standAloneOut, name + ".json"));
            var actual = ThresholdSet.Load(Path.Combine(clusterOut, name + ".json"));
            Assert.Equal(expected.Thresholds, actual.Thresholds);
            Assert.Equal(expected.ExpectedExitShares, actual.ExpectedExitShares);
            Assert.Equal(expected.ExpectedLayerFraction, actual.ExpectedLayerFraction);
            Assert.Equal(36, actual.SampleCount);
            Assert.Contains(published.Versions, v => v.Version == actual.Version && v.Name == name);
            Assert.Matches($@"\n  {name}\s+version {actual.Version}", cluster.Output);
        }
    }

    [Fact]
    public async Task Calibrate_ClusterMakeLive_MakesThatPublishedSetLive()
    {
        var client = Client();
        var liveBefore = (await client.Model("tiny-fm", CancellationToken.None)).LiveVersion;

        // --model given as the local package directory: the id is read from its manifest.
        var (code, output, error) = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", Silo.TinyFmDirectory, "--dataset", ShippedData.TinyFmDataset,
            "--r", "1.0,0.7", "--shards", "2", "--make-live", "exp-r0.7-cosine");

        Assert.True(code == 0, error);
        var model = await client.Model("tiny-fm", CancellationToken.None);
        var live = model.Versions.Single(v => v.Live);
        Assert.Equal("exp-r0.7-cosine", live.Name);
        Assert.NotEqual(liveBefore, model.LiveVersion);
        Assert.Matches($@"\n  exp-r0\.7-cosine\s+version {live.Version}  live", output);
        var set = ThresholdSet.FromJson(await client.ThresholdSetJson("tiny-fm", live.Version, CancellationToken.None));
        Assert.Equal(live.Version, set.Version);
        var missing = await Assert.ThrowsAsync<OperatorApiException>(() => client.ThresholdSetJson("tiny-fm", "no-such-version", CancellationToken.None));
        Assert.Equal(404, missing.Status);
    }

    [Fact]
    public async Task OperatorApi_StartCalibrationWithUnknownModelAndRelativePath_NamesBothAndStartsNothing()
    {
        var jobId = "refused-" + Guid.NewGuid().ToString("N")[..8];

        var refused = await Assert.ThrowsAsync<OperatorApiException>(() =>
            Client().StartCalibration(new StartCalibrationRequest("no-such-model", "datasets/tiny-fm-sim", JobId: jobId), CancellationToken.None));

        Assert.Equal(400, refused.Status);
        Assert.Contains("model 'no-such-model' is not served by the cluster (serving: tiny-fm)", refused.Detail, StringComparison.Ordinal);
        Assert.Contains("dataset path 'datasets/tiny-fm-sim' must be absolute", refused.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<OperatorApiException>(() => Client().Calibration(jobId, CancellationToken.None));
        Assert.Equal(404, unknown.Status);
    }

    [Fact]
    public async Task Calibrate_ClusterUnreachable_ExitsOneNamingTheUrl()
    {
        var url = $"http://127.0.0.1:{LoopbackSilo.FreePort()}";

        var (code, _, error) = await RunAsync("calibrate", "--cluster", url, "--model", "tiny-fm", "--dataset", ShippedData.TinyFmDataset);

        Assert.Equal(1, code);
        Assert.Contains($"calibrate failed: cannot reach the cluster at {url}", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_ClusterUnknownModel_ExitsOneNamingTheServedModels()
    {
        var (code, _, error) = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "no-such-model", "--dataset", ShippedData.TinyFmDataset);

        Assert.Equal(1, code);
        Assert.Contains("the cluster refused the job: invalid calibration job: model 'no-such-model' is not served by the cluster (serving: tiny-fm)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_ClusterBadDatasetPath_ExitsOneWithTheSilosProblems()
    {
        var notADataset = Directory.CreateDirectory(Path.Combine(_work, "not-a-dataset")).FullName;

        var missing = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", "/no/such/dataset");
        var empty = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", notADataset);

        Assert.Equal(1, missing.Code);
        Assert.Contains("dataset directory '/no/such/dataset' does not exist", missing.Error, StringComparison.Ordinal);
        Assert.Equal(1, empty.Code);
        Assert.Contains($"dataset '{notADataset}' is not a usable LeRobot v2.x dataset", empty.Error, StringComparison.Ordinal);
        Assert.Contains("meta/info.json", empty.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_ClusterJobFails_ExitsOneWithTheJobsError()
    {
        // A calibration episode's data file gone: the worker reading that shard fails (--bad-data fail), so does the job.
        var dataset = ShippedData.CopyTinyFmDataset(Path.Combine(_work, "broken"));
        File.Delete(Path.Combine(dataset, "data", "chunk-000", "episode_000002.parquet"));

        var (code, _, error) = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", dataset, "--shards", "2", "--r", "1.0");

        Assert.Equal(1, code);
        Assert.Matches(@"calibrate failed: calibration job tiny-fm-\S+ failed on the cluster: .*episode_000002\.parquet", error);
    }

    [Fact]
    public async Task Calibrate_ClusterNoWait_ReturnsOnceAcceptedAndTheJobRunsOn()
    {
        var jobId = "no-wait-" + Guid.NewGuid().ToString("N")[..8];

        var (code, output, error) = await RunAsync("calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", ShippedData.TinyFmDataset,
            "--r", "1.0", "--job-id", jobId, "--no-wait");

        Assert.True(code == 0, error);
        Assert.Contains($"calibration job {jobId}: 36 calibration samples", output, StringComparison.Ordinal);
        Assert.Contains($"cancel-calibration {jobId}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("threshold sets, expected", output, StringComparison.Ordinal);
        var status = await WaitFinishedAsync(jobId);
        Assert.Equal(CalibrationJobState.Completed, status.State);
    }

    [Fact]
    public async Task Calibrate_ClusterCtrlC_CancelsTheJobOnTheCluster()
    {
        var jobId = "ctrl-c-" + Guid.NewGuid().ToString("N")[..8];
        using var ctrlC = new CancellationTokenSource();
        // "Ctrl-C" as soon as the bar shows the job running on the cluster.
        using var error = new CancelOnWrite("cluster job", ctrlC);
        using var output = new StringWriter();

        var code = await CliApp.RunAsync(["calibrate", "--cluster", Silo.Url, "--model", "tiny-fm", "--dataset", ShippedData.TinyFmDataset,
            "--r", "1.0", "--shards", "1", "--batch", "1", "--job-id", jobId], output, error, ctrlC.Token);

        Assert.Equal(130, code);
        Assert.Contains($"canceled: calibration job {jobId} is Canceled on the cluster; nothing was published", error.ToString(), StringComparison.Ordinal);
        var status = await WaitFinishedAsync(jobId);
        Assert.Equal(CalibrationJobState.Canceled, status.State);
        Assert.Empty(status.Published);
    }

    public void Dispose()
    {
        _http.Dispose();
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private OperatorClient Client() => new(_http);

    private async Task<CalibrationJobStatus> WaitFinishedAsync(string jobId)
    {
        var client = Client();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var status = await client.Calibration(jobId, CancellationToken.None);
            if (status.State != CalibrationJobState.Running && status.ShardsRunning == 0)
            {
                return status;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job still running: {status}");
            await Task.Delay(100);
        }
    }

    private static string Row(string output, string setName) =>
        output.Split('\n').First(l => l.StartsWith(setName + " ", StringComparison.Ordinal)).TrimEnd();

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>stderr that cancels (like the exe's Ctrl-C handler) the first time a write contains a marker.</summary>
    private sealed class CancelOnWrite(string marker, CancellationTokenSource cancellation) : StringWriter
    {
        public override void Write(string? value)
        {
            base.Write(value);
            if (value is not null && value.Contains(marker, StringComparison.Ordinal))
            {
                cancellation.Cancel();
            }
        }
    }
}
