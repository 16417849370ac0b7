using A1Fleet.Grains.Inference;
using Microsoft.Extensions.Time.Testing;

namespace A1Fleet.Grains.Tests.Inference;

/// <summary>The device's choice of the next step among the batches in flight, on a fake device whose every step takes one layer of fake time.</summary>
public sealed class DeviceScheduleTests
{
    private static readonly TimeSpan Layer = TimeSpan.FromMilliseconds(2);
    private readonly FakeTimeProvider _time = new();

    private long In(double ms) => _time.GetTimestamp() + (long)(ms * _time.TimestampFrequency / 1000.0);

    [Fact]
    public void Next_UrgentBatchArrivesDuringADeepBatch_RunsAfterAtMostOneLayer()
    {
        var schedule = new DeviceSchedule<FakeBatch>(4, _time);
        var deep = new FakeBatch("deep", layers: 12, firstExit: 1, deadline: In(200));
        Assert.True(schedule.TryAdd(deep, deep.Deadline));
        for (var i = 0; i < 5; i++)
        {
            Assert.Same(deep, RunStep(schedule));
        }

        // Arrives in the middle of the deep batch's next layer, with an earlier deadline.
        var arrival = _time.GetTimestamp() + (long)(0.4 * Layer.TotalSeconds * _time.TimestampFrequency);
        Assert.Same(deep, schedule.Next());
        _time.Advance(Layer * 0.4);
        var urgent = new FakeBatch("urgent", layers: 12, firstExit: 1, deadline: In(40));
        Assert.True(schedule.TryAdd(urgent, urgent.Deadline));
        _time.Advance(Layer * 0.6);
        deep.Advance();
        schedule.Update(deep, deep.Deadline, deep.BeforeFirstExit, deep.Remaining(_time));

        var started = _time.GetTimestamp();
        Assert.Same(urgent, RunStep(schedule));
        Assert.True(started - arrival <= Layer.TotalSeconds * _time.TimestampFrequency, "the urgent batch waited more than one layer");
        while (!urgent.Done)
        {
            Assert.Same(urgent, RunStep(schedule));
        }

        Assert.Same(deep, RunStep(schedule));
    }

    [Fact]
    public void Next_NewBatchWithALaterDeadline_ReachesItsFirstExitBeforeTheDeepBatchGoesDeeper()
    {
        var schedule = new DeviceSchedule<FakeBatch>(4, _time);
        var deep = new FakeBatch("deep", layers: 12, firstExit: 1, deadline: In(200));
        schedule.TryAdd(deep, deep.Deadline);
        for (var i = 0; i < 4; i++)
        {
            RunStep(schedule);
        }

        var later = new FakeBatch("later", layers: 12, firstExit: 1, deadline: In(300));
        schedule.TryAdd(later, later.Deadline);

        // Prefix, layer 0 and layer 1 (its first exit): then the deep batch, whose deadline is earlier, goes on.
        Assert.Same(later, RunStep(schedule));
        Assert.Same(later, RunStep(schedule));
        Assert.Same(later, RunStep(schedule));
        Assert.False(later.BeforeFirstExit);
        Assert.Same(deep, RunStep(schedule));
    }

    [Fact]
    public void Next_DeepBatchWithNoSlackLeft_RunsBeforeANewBatchWithALaterDeadline()
    {
        var schedule = new DeviceSchedule<FakeBatch>(4, _time);
        // 12 layers of 2 ms and a prefix: 26 ms of work, 30 ms to its deadline.
        var deep = new FakeBatch("deep", layers: 12, firstExit: 1, deadline: In(30));
        schedule.TryAdd(deep, deep.Deadline, deep.Remaining(_time));
        for (var i = 0; i < 4; i++)
        {
            RunStep(schedule);
        }

        _time.Advance(TimeSpan.FromMilliseconds(4));
        var later = new FakeBatch("later", layers: 12, firstExit: 1, deadline: In(300));
        schedule.TryAdd(later, later.Deadline);

        while (!deep.Done)
        {
            Assert.Same(deep, RunStep(schedule));
        }

        Assert.True(_time.GetTimestamp() <= deep.Deadline, "the deep batch finished after its deadline");
        Assert.Same(later, RunStep(schedule));
    }

    [Fact]
    public void Next_EqualDeadlinesAndPhases_TheBatchAdmittedFirst()
    {
        var schedule = new DeviceSchedule<FakeBatch>(4, _time);
        var deadline = In(100);
        var first = new FakeBatch("first", 12, 1, deadline);
        var second = new FakeBatch("second", 12, 1, deadline);
        schedule.TryAdd(first, deadline);
        schedule.TryAdd(second, deadline);

        Assert.Same(first, schedule.Next());
        schedule.Remove(first);
        Assert.Same(second, schedule.Next());
    }

    [Fact]
    public void Next_BatchesWithoutADeadline_GoAfterThoseWithOne()
    {
        var schedule = new DeviceSchedule<FakeBatch>(4, _time);
        var none = new FakeBatch("none", 12, 1, long.MaxValue);
        var timed = new FakeBatch("timed", 12, 1, In(500));
        schedule.TryAdd(none, long.MaxValue);
        schedule.TryAdd(timed, timed.Deadline);

        Assert.Same(timed, schedule.Next());
    }

    [Fact]
    public void TryAdd_AtCapacity_RefusedUntilOneLeaves()
    {
        var schedule = new DeviceSchedule<FakeBatch>(2, _time);
        var a = new FakeBatch("a", 12, 1, In(100));
        Assert.True(schedule.TryAdd(a, a.Deadline));
        Assert.True(schedule.TryAdd(new FakeBatch("b", 12, 1, In(100)), In(100)));

        Assert.True(schedule.IsFull);
        Assert.False(schedule.TryAdd(new FakeBatch("c", 12, 1, In(10)), In(10)));
        Assert.Equal(2, schedule.Count);
        Assert.True(schedule.Remove(a));
        Assert.True(schedule.TryAdd(new FakeBatch("c", 12, 1, In(10)), In(10)));
        Assert.Null(new DeviceSchedule<FakeBatch>(1, _time).Next());
    }

    [Fact]
    public void TakeAll_TakesEveryBatchInTheOrderAdmittedAndLeavesRoom()
    {
        var schedule = new DeviceSchedule<FakeBatch>(2, _time);
        var late = new FakeBatch("late", 12, 1, In(100));
        var soon = new FakeBatch("soon", 12, 1, In(10));
        schedule.TryAdd(late, late.Deadline);
        schedule.TryAdd(soon, soon.Deadline);

        Assert.Equal([late, soon], schedule.TakeAll());
        Assert.Equal(0, schedule.Count);
        Assert.Null(schedule.Next());
        Assert.True(schedule.TryAdd(soon, soon.Deadline));
    }

    /// <summary>Picks, runs one step (one layer of fake time), tells the schedule; removes the batch when done.</summary>
    private FakeBatch RunStep(DeviceSchedule<FakeBatch> schedule)
    {
        var next = schedule.Next()!;
        _time.Advance(Layer);
        next.Advance();
        if (next.Done)
        {
            schedule.Remove(next);
        }
        else
        {
            schedule.Update(next, next.Deadline, next.BeforeFirstExit, next.Remaining(_time));
        }

        return next;
    }

    /// <summary>A batch of the fake device: the prefix, then layers 0..layers-1, each one step.</summary>
    private sealed class FakeBatch(string name, int layers, int firstExit, long deadline)
    {
        private int _nextLayer = -1;

        public long Deadline { get; } = deadline;
        public bool Done => _nextLayer >= layers;
        public bool BeforeFirstExit => _nextLayer <= firstExit;

        public void Advance() => _nextLayer++;

        public long Remaining(TimeProvider time) => (long)((layers - _nextLayer) * Layer.TotalSeconds * time.TimestampFrequency);

        public override string ToString() => name;
    }
}
