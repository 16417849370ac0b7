using A1Fleet.Calibration;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Grains.Calibration;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.Grains.Tests.Calibration;

[Collection(FleetClusterCollection.Name)]
public sealed class CalibrationJobGrainTests(FleetClusterFixture fixture)
{
    private static string Dataset => ShippedData.TinyFmDataset;

    private static CalibrationJobSpec Spec(int shards, string? makeLive = null) =>
        new("tiny-fm", Dataset, ["exp"], [1.0, 0.4], null, "exit-warm-k2", shards, 0.25, false, makeLive, BatchSize: 1);

    [Fact]
    public async Task Start_ShardedAcrossWorkers_PublishesExactlyTheSingleProcessThresholds()
    {
        var model = fixture.Client.GetGrain<IModelGrain>("tiny-fm");
        var liveBefore = (await model.GetLive())!.Version;
        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("job-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var started = await job.Start(Spec(shards: 3, makeLive: "exp-r0.4-cosine"));
            Assert.Equal(3, started.ShardsTotal);
            var status = await CalibrationJobWait.FinishedAsync(job);
            Assert.Equal(CalibrationJobState.Completed, status.State);
            Assert.Equal(status.SamplesTotal, status.SamplesDone);
            Assert.Equal(2, status.Published.Length);

            var expected = await SingleProcessSetsAsync();
            var info = await model.GetInfo();
            foreach (var set in expected)
            {
                var published = status.Published.Single(p => p.Name == set.Name);
                Assert.Contains(info.Versions, v => v.Version == published.Version);
            }

            var live = ThresholdSet.FromJson((await model.GetLive())!.Json);
            Assert.Equal("exp-r0.4-cosine", live.Name);
            Assert.Equal(expected.Single(s => s.Name == live.Name).Thresholds, live.Thresholds);
            Assert.Equal(expected.Single(s => s.Name == live.Name).ExpectedExitShares, live.ExpectedExitShares);
            await WaitReminderGoneAsync(job);
            await WaitShardResultsClearedAsync(job, started.ShardsTotal);
        }
        finally
        {
            await model.SetLive(liveBefore);
        }
    }

    [Fact]
    public async Task Start_BadSpec_IsRefusedAndNothingStarts()
    {
        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("bad-" + Guid.NewGuid().ToString("N")[..8]);
        var ex = await Assert.ThrowsAsync<CalibrationJobRejectedException>(() => job.Start(Spec(0) with { DatasetDirectory = "/no/such/dataset", Families = ["weibull"] }));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("weibull", ex.Message, StringComparison.Ordinal);
        Assert.Contains("shards 0", ex.Message, StringComparison.Ordinal);
        Assert.Null(await job.GetStatus());
    }

    [Fact]
    public async Task Start_DatasetTheLibraryCannotOpen_IsRejectedWithItsReasonAsOneTypedError()
    {
        var empty = Directory.CreateTempSubdirectory("a1fleet-not-a-dataset-");
        try
        {
            var job = fixture.Client.GetGrain<ICalibrationJobGrain>("unreadable-" + Guid.NewGuid().ToString("N")[..8]);

            var ex = await Assert.ThrowsAsync<CalibrationJobRejectedException>(() => job.Start(Spec(1) with { DatasetDirectory = empty.FullName }));

            Assert.Contains(empty.FullName, ex.Message, StringComparison.Ordinal);
            Assert.Null(await job.GetStatus());
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Cancel_RunningJob_EndsCanceledAndPublishesNothing()
    {
        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("cancel-" + Guid.NewGuid().ToString("N")[..8]);
        var before = (await fixture.Client.GetGrain<IModelGrain>("tiny-fm").GetInfo()).Versions.Count;
        await job.Start(Spec(shards: 6) with { Rs = [0.7] });
        var canceled = await job.Cancel();
        Assert.Equal(CalibrationJobState.Canceled, canceled!.State);
        var status = await CalibrationJobWait.FinishedAsync(job);
        Assert.Equal(CalibrationJobState.Canceled, status.State);
        Assert.Empty(status.Published);
        Assert.True((await fixture.Client.GetGrain<IModelGrain>("tiny-fm").GetInfo()).Versions.Count >= before);
        await WaitReminderGoneAsync(job);
    }

    [Fact]
    public async Task Start_RunningJob_KeepsAReminderWithTheConfiguredPeriod()
    {
        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("reminder-" + Guid.NewGuid().ToString("N")[..8]);
        await job.Start(Spec(shards: 6) with { Rs = [0.7] });
        var reminder = await ReminderTable.ReadRow(job.GetGrainId(), CalibrationJobGrain.ResumeReminder);
        Assert.NotNull(reminder);
        Assert.Equal(TimeSpan.FromSeconds(5), reminder.Period);
        await job.Cancel();
    }

    [Fact]
    public async Task Deactivated_MidJob_ResumesFromPersistedShards_AndPublishesExactlyTheSingleProcessThresholds()
    {
        var model = fixture.Client.GetGrain<IModelGrain>("tiny-fm");
        var job = fixture.Client.GetGrain<ICalibrationJobGrain>("resume-" + Guid.NewGuid().ToString("N")[..8]);
        var started = await job.Start(Spec(shards: 6));
        Assert.Equal(CalibrationJobState.Running, started.State);

        // The activation goes away with its shards in flight, as when its grain directory entry is lost
        // with another silo; the status call reactivates it (in production its reminder does).
        await fixture.Cluster.DeactivateAsync(job);
        var status = await CalibrationJobWait.FinishedAsync(job);

        Assert.Equal(CalibrationJobState.Completed, status.State);
        Assert.Equal(1, status.Resumes);
        // The workers finished for the next activation: nothing was lost, so nothing was retried.
        Assert.Equal(0, status.ShardRetries);
        Assert.Equal(status.SamplesTotal, status.SamplesDone);
        var expected = await SingleProcessSetsAsync();
        foreach (var set in expected)
        {
            var published = ThresholdSet.FromJson((await model.GetVersion(status.Published.Single(p => p.Name == set.Name).Version))!.Json);
            Assert.Equal(set.Thresholds, published.Thresholds);
            Assert.Equal(set.ExpectedExitShares, published.ExpectedExitShares);
        }
    }

    private IReminderTable ReminderTable =>
        fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress).GetRequiredService<IReminderTable>();

    /// <summary>An ended job removes its reminder right after it has persisted how it ended.</summary>
    /// <summary>A finished job's shard columns (kept in their own result grains while it ran) leave storage.</summary>
    private async Task WaitShardResultsClearedAsync(ICalibrationJobGrain job, int shards)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var results = Enumerable.Range(0, shards).Select(i => fixture.Client.GetGrain<ICalibrationShardResultGrain>($"{job.GetPrimaryKeyString()}/{i}")).ToList();
        while ((await Task.WhenAll(results.Select(r => r.Load()))).Any(v => v is not null))
        {
            Assert.True(DateTime.UtcNow < deadline, "the finished job's shard results were not cleared");
            await Task.Delay(100);
        }
    }

    private async Task WaitReminderGoneAsync(ICalibrationJobGrain job)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await ReminderTable.ReadRow(job.GetGrainId(), CalibrationJobGrain.ResumeReminder) is not null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the ended job's reminder was not removed");
            await Task.Delay(100);
        }
    }

    /// <summary>The stand-alone job's path on the same data: read everything, split by episode, collect, calibrate.</summary>
    private async Task<IReadOnlyList<ThresholdSet>> SingleProcessSetsAsync()
    {
        using var engine = A1Engine.Load(fixture.TinyFmDirectory, new EngineOptions { MaxBatchSize = 4 });
        var dataset = LeRobotDataset.Open(Dataset);
        var reader = new LeRobotDatasetReader(dataset, engine.Manifest, DatasetMapping.Default(engine.Manifest, dataset.Info));
        var read = await reader.ReadAllAsync();
        var split = HoldoutSplit.ByEpisode(read.Samples, 0.25);
        var run = new CalibrationRun(new CalibrationSettings
        {
            Families = [ExitFamily.Exp],
            Rs = [1.0, 0.4],
            Decode = DecodeSettings.EarlyExitWarmK2,
            HoldoutShare = 0.25,
            BatchSize = 1,
        });
        return run.CalibrateSets(engine.Manifest, run.CollectValues(engine, split.Calibration));
    }
}
