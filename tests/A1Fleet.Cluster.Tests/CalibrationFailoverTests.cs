using System.Globalization;
using System.Text.Json;
using A1Fleet.Calibration;
using A1Fleet.Datasets.Conversion;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;
using Xunit.Abstractions;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// Calibration jobs on the production topology (redis-server, two GPU silo processes, Redis
/// membership, storage and reminders): a silo is killed with SIGKILL in the middle of a job, once
/// with only workers on it, once with the coordinator. The job must complete on the survivor and
/// publish exactly the thresholds a single-process run computes on the same data. Each test first
/// runs the same job undisturbed, for the figure the failover is compared with.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class CalibrationFailoverTests(SmallFmCalibrationData data, ITestOutputHelper output) : IClassFixture<SmallFmCalibrationData>, IDisposable
{
    /// <summary>
    /// Short enough that a job whose coordinator died resumes within seconds in the test (production
    /// keeps Orleans' 1-minute default); the silos lower Orleans' minimum reminder period to match.
    /// </summary>
    private const string ReminderPeriod = "00:00:02";

    private static readonly string[] Families = ["exp"];
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task KillWorkerSilo_ShardsRunAgainOnSurvivor_PublishesTheSingleProcessThresholds()
    {
        var run = await RunWithKillAsync(killCoordinator: false);

        // The coordinator stays on its silo, and the shards placed on the killed silo (half of them, round
        // robin) ran again on the survivor: retried by the coordinator, or, when Orleans deactivated the
        // coordinator because its grain directory entry was kept by the dead silo, asked for again by the
        // resumed coordinator (then under their first keys, so they do not count as retries).
        Assert.Equal(run.CoordinatorBefore, run.Final.Coordinator);
        Assert.True(run.Final.ShardRetries >= 1 || run.Final.Resumes >= 1, $"no shard was asked for again, so no worker ran on the killed silo: {run.Final}");
        Report("worker", "a silo running workers but not the coordinator", "the status was polled throughout", run);
    }

    [Fact]
    public async Task KillCoordinatorSilo_JobResumesByItsReminderWithoutBeingAsked_PublishesTheSingleProcessThresholds()
    {
        var run = await RunWithKillAsync(killCoordinator: true);

        Assert.NotEqual(run.CoordinatorBefore, run.Final.Coordinator);
        Assert.True(run.Final.Resumes >= 1, $"the job did not resume from persisted shards: {run.Final}");
        Report("coordinator", "the coordinator's silo", "nothing asked for the job until it had published", run);
    }

    private async Task<KillRun> RunWithKillAsync(bool killCoordinator)
    {
        _cluster.StartRedis();
        var silos = new[]
        {
            _cluster.StartSilo("silo-1", data.Model, gpu: true, $"--A1Fleet:CalibrationJobs:ReminderPeriod {ReminderPeriod}"),
            _cluster.StartSilo("silo-2", data.Model, gpu: true, $"--A1Fleet:CalibrationJobs:ReminderPeriod {ReminderPeriod}"),
        };
        foreach (var silo in silos)
        {
            await ProcessCluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(90));
        }

        // A short job first (2 of the 16 episodes, a shard per silo), so that the undisturbed figure does
        // not include what every silo pays once: JIT, the dataset reader's first decode, the engine's first pass.
        var suffix = _cluster.ClusterId[^4..];
        var warmUp = await StartJobAsync(silos[0], $"warm-up-{suffix}", makeLive: null, shards: 2, holdoutShare: 0.875);
        Assert.Equal(CalibrationJobState.Completed, (await WaitEndedAsync(silos[0], warmUp.JobId, silos, "the warm-up job did not end")).State);

        var baseline = await StartJobAsync(silos[0], $"baseline-{suffix}", makeLive: "exp-r1.0-cosine");
        baseline = await WaitEndedAsync(silos[0], baseline.JobId, silos, "the undisturbed job did not end");
        Assert.Equal(CalibrationJobState.Completed, baseline.State);
        await AssertSingleProcessThresholdsAsync(silos[0], baseline);

        var job = await StartJobAsync(silos[0], $"failover-{suffix}", makeLive: "exp-r0.4-cosine");
        Assert.True(job.ShardsTotal >= 8, $"the job needs many shards to be killed mid-way: {job}");

        // Kill as soon as a shard is persisted: most shards are still missing then.
        var atKill = await PollAsync(() => Status(silos[0], job.JobId), s => s.ShardsDone >= 1 || s.State != CalibrationJobState.Running, silos, "no shard finished");
        Assert.True(atKill.State == CalibrationJobState.Running && atKill.ShardsDone < atKill.ShardsTotal, $"the job was not mid-way when the silo was to be killed: {atKill}");
        var coordinator = SiloOf(atKill.Coordinator, silos);
        var victim = killCoordinator ? coordinator : silos.Single(s => s != coordinator);
        var survivor = silos.Single(s => s != victim);
        var killedAt = DateTimeOffset.UtcNow;
        victim.Process.KillHard();

        if (killCoordinator)
        {
            // Nothing calls the job grain until it has published (the model grain shows that), so only
            // its reminder can have brought it back.
            await PollAsync(() => Model(survivor), m => m.Versions.Any(v => v.Live && v.Name == "exp-r0.4-cosine"), [survivor],
                "the job did not publish after its coordinator's silo was killed (nothing asked for it: only its reminder could resume it)");
        }

        var final = await WaitEndedAsync(survivor, job.JobId, [survivor], "the job did not end after the silo was killed");
        Assert.True(final.State == CalibrationJobState.Completed, $"the job did not complete after the silo was killed: {final}\nsurvivor output:\n{survivor.Process.Output}");
        Assert.Equal(final.ShardsTotal, final.ShardsDone);
        // Re-run shards count once: every sample exactly once.
        Assert.Equal(final.SamplesTotal, final.SamplesDone);
        Assert.Equal(SiloOf(final.Coordinator, silos), survivor);
        await AssertSingleProcessThresholdsAsync(survivor, final);
        Assert.Equal(baseline.Published.Select(p => p.Version).Order(), final.Published.Select(p => p.Version).Order());
        Assert.Equal(final.Published.Single(p => p.Name == "exp-r0.4-cosine").Version, (await Model(survivor)).LiveVersion);

        return new KillRun(baseline, atKill, final, atKill.Coordinator, killedAt);
    }

    private async Task<CalibrationJobStatus> StartJobAsync(SiloProcess silo, string jobId, string? makeLive, int shards = 12, double holdoutShare = 0.25)
    {
        // Batch size 1 on both sides: ONNX Runtime's sums differ in the last bits between batch sizes.
        var response = await ProcessCluster.PostJson(silo.Url, "/api/calibrations", new
        {
            modelId = "small-fm",
            dataset = data.Dataset,
            families = Families,
            rs = SmallFmCalibrationData.Rs,
            shards,
            holdoutShare,
            skipBadData = false,
            makeLive,
            batchSize = 1,
            jobId,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonSerializer.Deserialize<CalibrationJobStatus>(body, Json)!;
    }

    private async Task AssertSingleProcessThresholdsAsync(SiloProcess silo, CalibrationJobStatus status)
    {
        Assert.Equal(data.Expected.Count, status.Published.Length);
        foreach (var expected in data.Expected)
        {
            var published = status.Published.Single(p => p.Name == expected.Name);
            using var http = ProcessCluster.ApiClient(silo.Url, TimeSpan.FromSeconds(10));
            var set = ThresholdSet.FromJson(await http.GetStringAsync($"/api/models/small-fm/thresholds/{published.Version}"));
            Assert.Equal(expected.Thresholds, set.Thresholds);
            Assert.Equal(expected.ExpectedExitShares, set.ExpectedExitShares);
            Assert.Equal(expected.SampleCount, set.SampleCount);
        }
    }

    private static Task<CalibrationJobStatus> Status(SiloProcess silo, string jobId) =>
        ProcessCluster.GetJson<CalibrationJobStatus>(silo.Url, $"/api/calibrations/{jobId}");

    private static Task<ModelInfo> Model(SiloProcess silo) => ProcessCluster.GetJson<ModelInfo>(silo.Url, "/api/models/small-fm");

    private static Task<CalibrationJobStatus> WaitEndedAsync(SiloProcess silo, string jobId, SiloProcess[] silos, string failure) =>
        PollAsync(() => Status(silo, jobId), s => s.State != CalibrationJobState.Running && s.ShardsRunning == 0, silos, failure);

    /// <summary>The coordinator's silo, from the status's "address:port@generation".</summary>
    private static SiloProcess SiloOf(string? coordinator, SiloProcess[] silos)
    {
        Assert.NotNull(coordinator);
        var endpoint = coordinator.Split('@')[0];
        var port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        return silos.Single(s => s.SiloPort == port);
    }

    /// <summary>Polls until the condition holds; a silo that is unreachable or answers an error just means "not yet".</summary>
    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done, SiloProcess[] silos, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        var last = default(T);
        while (true)
        {
            try
            {
                last = await read();
                if (done(last))
                {
                    return last;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{failure} within 120 s; last read: {last}\n"
                    + string.Join('\n', silos.Select(s => $"--- {s.Process.Name}:\n{s.Process.Output}")));
            }

            await Task.Delay(100);
        }
    }

    private void Report(string scenario, string killed, string note, KillRun run)
    {
        var baseline = (run.Baseline.FinishedAt!.Value - run.Baseline.StartedAt).TotalSeconds;
        var total = (run.Final.FinishedAt!.Value - run.Final.StartedAt).TotalSeconds;
        var killAfter = (run.KilledAt - run.Final.StartedAt).TotalSeconds;
        var recovery = (run.Final.FinishedAt!.Value - run.KilledAt).TotalSeconds;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"calibration job (small-fm, {run.Final.SamplesTotal} samples, {run.Final.ShardsTotal} shards, batch 1, 2 GPU silos): undisturbed {baseline:F1} s; "
            + $"SIGKILL of {killed} {killAfter:F1} s in, with {run.AtKill.ShardsDone}/{run.AtKill.ShardsTotal} shards done: "
            + $"completed on the survivor {recovery:F1} s after the kill ({total:F1} s in all; {run.Final.ShardRetries} shard retries, {run.Final.Resumes} coordinator resumes; {note})");
        output.WriteLine(line);
        var dir = Path.Combine(ProcessCluster.RepositoryRoot, "artifacts", "test-figures");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"calibration-failover-{scenario}.txt"), $"{line} ({DateTimeOffset.UtcNow:u})\n");
    }

    public void Dispose() => _cluster.Dispose();

    private sealed record KillRun(CalibrationJobStatus Baseline, CalibrationJobStatus AtKill, CalibrationJobStatus Final, string? CoordinatorBefore, DateTimeOffset KilledAt);
}

/// <summary>
/// Built once for the class: the small-fm reference package, its 16 sample episodes as a LeRobot
/// dataset (192 frames; 12 episodes, 144 samples calibrate), and the threshold sets a single process
/// computes on it with the job's settings.
/// </summary>
public sealed class SmallFmCalibrationData : IAsyncLifetime
{
    public static readonly double[] Rs = [1.0, 0.7, 0.4, 0.1];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "a1fleet-calibration-failover-" + Guid.NewGuid().ToString("N"));

    public string Model { get; private set; } = "";
    public string Dataset { get; private set; } = "";
    public IReadOnlyList<ThresholdSet> Expected { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Model = ReferencePackages.Ensure("small-fm", _root);
        Dataset = Path.Combine(_root, "small-fm-sim");
        await SamplesToLeRobot.ConvertPackageAsync(ModelPackage.Open(Model), Dataset);

        // The stand-alone job's path: read everything, split by episode, collect at batch size 1, calibrate.
        using var engine = A1Engine.Load(Model, new EngineOptions { MaxBatchSize = 1, IntraOpThreads = 1 });
        var dataset = LeRobotDataset.Open(Dataset);
        var reader = new LeRobotDatasetReader(dataset, engine.Manifest, DatasetMapping.Default(engine.Manifest, dataset.Info));
        var read = await reader.ReadAllAsync();
        var split = HoldoutSplit.ByEpisode(read.Samples, 0.25);
        var run = new CalibrationRun(new CalibrationSettings
        {
            Families = [ExitFamily.Exp],
            Rs = Rs,
            Decode = DecodeSettings.EarlyExitWarmK2,
            HoldoutShare = 0.25,
            BatchSize = 1,
        });
        Expected = run.CalibrateSets(engine.Manifest, run.CollectValues(engine, split.Calibration));
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}
