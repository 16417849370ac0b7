using A1Fleet.Datasets.Reading;
using A1Fleet.Grains.Calibration;
using A1Fleet.ModelFormat;

namespace A1Fleet.Grains.Tests.Calibration;

public sealed class DeviceBatchesTests
{
    [Fact]
    public void DeviceBatches_CutsWhereTheValuesPassStartsABatch_EveryBatchSizeAndAtGaps()
    {
        // Global indices 0..6, then frames 7-8 skipped, then 9..11.
        int[] indices = [0, 1, 2, 3, 4, 5, 6, 9, 10, 11];
        var samples = indices.Select(i => new DatasetSample(i, 0, i, new ObservationSample())).ToList();

        var batches = CalibrationWorkerGrain.DeviceBatches(samples, batchSize: 3).Select(b => b.Select(s => s.GlobalIndex).ToArray()).ToList();

        Assert.Equal([[0, 1, 2], [3, 4, 5], [6], [9, 10, 11]], batches);
        Assert.Equal(indices, batches.SelectMany(b => b));
    }

    [Fact]
    public void DeviceBatches_BatchSizeOne_OneSampleEach()
    {
        var samples = Enumerable.Range(5, 4).Select(i => new DatasetSample(i, 0, i, new ObservationSample())).ToList();

        Assert.Equal(4, CalibrationWorkerGrain.DeviceBatches(samples, batchSize: 1).Count());
    }
}
