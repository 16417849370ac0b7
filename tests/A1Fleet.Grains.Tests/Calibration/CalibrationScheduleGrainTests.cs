using A1Fleet.Datasets.Writing;
using A1Fleet.Grains;
using A1Fleet.ModelFormat;

namespace A1Fleet.Grains.Tests.Calibration;

/// <summary>Recalibration on a reminder: the in-memory reminder service of the test cluster drives the schedule grain.</summary>
[Collection(FleetClusterCollection.Name)]
public sealed class CalibrationScheduleGrainTests(FleetClusterFixture fixture) : IDisposable
{
    private readonly string _dataset = Path.Combine(Path.GetTempPath(), "a1fleet-schedule-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Schedule_ReminderStartsAJob_UnchangedDataSkipsAndNewEpisodesRunAgain()
    {
        ShippedData.CopyTinyFmDataset(_dataset);
        var schedule = fixture.Client.GetGrain<ICalibrationScheduleGrain>("tiny-fm");
        var model = fixture.Client.GetGrain<IModelGrain>("tiny-fm");
        var liveBefore = (await model.GetLive())!.Version;
        // The schedule grain keeps its history across Clear, so runs from other tests on tiny-fm may be there already.
        var earlier = (await schedule.Get()).History.Length;
        try
        {
            // The cluster's clock, which other tests of the collection move on: the first run is a second after Set ran.
            var before = fixture.Clock.GetUtcNow();
            var set = await schedule.Set(new CalibrationSchedule(Job(), TimeSpan.FromHours(6), OnlyWhenChanged: true), firstRunAfter: TimeSpan.FromSeconds(1));
            var after = fixture.Clock.GetUtcNow();
            Assert.Equal(TimeSpan.FromHours(6), set.Schedule!.Every);
            Assert.InRange(set.NextRunAt!.Value, before.AddSeconds(1), after.AddSeconds(1));

            // Nobody calls the grain: the reminder's first tick starts the job.
            var started = await WaitForAsync(async () => (await schedule.Get()).History is { } history && history.Length > earlier ? history[earlier] : null, TimeSpan.FromSeconds(60));
            Assert.Equal(ScheduledRunOutcome.Started, started.Outcome);
            Assert.Contains("8 episodes (last 7), 48 frames", started.Detail, StringComparison.Ordinal);
            var status = await CalibrationJobWait.FinishedAsync(fixture.Client.GetGrain<ICalibrationJobGrain>(started.JobId!));
            Assert.Equal(CalibrationJobState.Completed, status.State);
            Assert.Single(status.Published);
            var afterTick = await schedule.Get();
            Assert.True(afterTick.NextRunAt > fixture.Clock.GetUtcNow().AddHours(5), $"the next tick is a period away: {afterTick.NextRunAt}");

            var unchanged = await schedule.RunNow();
            Assert.Equal(ScheduledRunOutcome.SkippedUnchanged, unchanged.Outcome);
            Assert.Equal(started.JobId, unchanged.JobId);

            // The arms recorded one more episode: the next tick calibrates again.
            // At once: a run started within the same second as the last is a job of its own.
            await AppendEpisodeAsync();
            var rerun = await schedule.RunNow();
            Assert.Equal(ScheduledRunOutcome.Started, rerun.Outcome);
            Assert.NotEqual(started.JobId, rerun.JobId);
            Assert.Contains("9 episodes (last 8), 52 frames", rerun.Detail, StringComparison.Ordinal);
            Assert.Equal(CalibrationJobState.Completed, (await CalibrationJobWait.FinishedAsync(fixture.Client.GetGrain<ICalibrationJobGrain>(rerun.JobId!))).State);

            var cleared = await schedule.Clear();
            Assert.Null(cleared.Schedule);
            Assert.Null(cleared.NextRunAt);
            Assert.Equal(earlier + 3, cleared.History.Length);
            await Assert.ThrowsAsync<InvalidOperationException>(() => schedule.RunNow());
        }
        finally
        {
            await schedule.Clear();
            await model.SetLive(liveBefore);
        }
    }

    [Fact]
    public async Task Schedule_Invalid_RefusedWithEveryProblemAndNothingSet()
    {
        var schedule = fixture.Client.GetGrain<ICalibrationScheduleGrain>("tiny-mlp");
        var job = Job() with { ModelId = "tiny-fm", DatasetDirectory = "/no/such/dataset", Families = ["weibull"] };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => schedule.Set(new CalibrationSchedule(job, TimeSpan.FromSeconds(10), true), TimeSpan.FromSeconds(-1)));

        Assert.Contains("'/no/such/dataset' does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains("family 'weibull'", error.Message, StringComparison.Ordinal);
        Assert.Contains("the job is for model 'tiny-fm' but this is the schedule of 'tiny-mlp'", error.Message, StringComparison.Ordinal);
        Assert.Contains("every 00:00:10 must be within 00:01:00", error.Message, StringComparison.Ordinal);
        Assert.Contains("first run after -00:00:01", error.Message, StringComparison.Ordinal);
        Assert.Null((await schedule.Get()).Schedule);
    }

    [Fact]
    public async Task Schedule_DatasetRemovedAfterwards_TickIsRefusedAndSaysWhy()
    {
        ShippedData.CopyTinyFmDataset(_dataset);
        var schedule = fixture.Client.GetGrain<ICalibrationScheduleGrain>("tiny-fm");
        await schedule.Set(new CalibrationSchedule(Job(), TimeSpan.FromHours(1), true), null);
        try
        {
            Directory.Delete(_dataset, recursive: true);

            var run = await schedule.RunNow();

            Assert.Equal(ScheduledRunOutcome.Refused, run.Outcome);
            Assert.Contains($"dataset directory '{_dataset}' does not exist", run.Detail, StringComparison.Ordinal);
            Assert.Equal(run, (await schedule.Get()).History[^1]);
        }
        finally
        {
            await schedule.Clear();
        }
    }

    private CalibrationJobSpec Job() => new("tiny-fm", _dataset, ["exp"], [0.4], null, "exit-warm-k2", 2, 0.25, false, null, BatchSize: 8);

    private async Task AppendEpisodeAsync()
    {
        var manifest = ModelPackage.Open(fixture.TinyFmDirectory).Manifest;
        var samples = ModelPackage.Open(fixture.TinyFmDirectory).LoadSamples();
        var writer = LeRobotDatasetWriter.Append(_dataset, DatasetLayout.ForModel(manifest, 20, "a1fleet-sim/tiny-fm"));
        await writer.WriteEpisodeAsync([.. samples.Take(4).Select(s => new RecordedFrame("one more episode", s.State, s.Actions![..DatasetLayoutActionDims(manifest)], s.Images))]);
    }

    private static int DatasetLayoutActionDims(ModelManifest manifest) => A1Fleet.Datasets.Mapping.DatasetMapping.ValidActionDims(manifest);

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, TimeSpan timeout)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, $"nothing happened within {timeout}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_dataset))
        {
            Directory.Delete(_dataset, recursive: true);
        }
    }
}
