using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Sharding;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Calibration;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Calibration.Tests.Sharding;

[Collection(ReferenceModelsCollection.Name)]
public sealed class DatasetShardsTests(ReferenceModelsFixture models)
{
    private readonly LeRobotDataset _dataset = LeRobotDataset.Open(TestDatasets.ShippedTinyFm);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void Split_AnyShardCount_CoversEveryEpisodeOnceInOrder(int shardCount)
    {
        var shards = DatasetShards.Split(_dataset, shardCount);

        Assert.Equal(shardCount, shards.Count);
        Assert.Equal(Enumerable.Range(0, 8), shards.SelectMany(s => s.Episodes));
        Assert.All(shards, s => Assert.NotEmpty(s.Episodes));
        Assert.Equal(48, shards.Sum(s => s.SampleCount));
        Assert.All(shards, s => Assert.Equal(s.Episodes[0] * 6, s.FirstSampleIndex));
    }

    [Fact]
    public void Split_CalledTwice_GivesIdenticalShards()
    {
        var first = DatasetShards.Split(_dataset, 3);
        var second = DatasetShards.Split(_dataset, 3);

        Assert.Equal(first.Select(s => (s.FirstSampleIndex, s.SampleCount, string.Join(',', s.Episodes))),
            second.Select(s => (s.FirstSampleIndex, s.SampleCount, string.Join(',', s.Episodes))));
        Assert.Equal([[0, 1, 2], [3, 4, 5], [6, 7]], first.Select(s => s.Episodes.ToArray()));
    }

    [Fact]
    public void Split_MoreShardsThanEpisodes_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetShards.Split(_dataset, 9));
    }

    [Fact]
    public void Split_EpisodeSubset_ShardsOnlyThoseEpisodes()
    {
        var shards = DatasetShards.Split(_dataset, [0, 1, 2, 3, 4, 5], 4);

        Assert.Equal(Enumerable.Range(0, 6), shards.SelectMany(s => s.Episodes));
        Assert.Equal(36, shards.Sum(s => s.SampleCount));
    }

    [Fact]
    public async Task CollectPerShard_ConcatenatedInShardOrder_EqualsTheWholeMatrix()
    {
        var reader = TestDatasets.Reader(models, TestDatasets.ShippedTinyFm);
        var whole = await reader.ReadAllAsync();
        var decode = DecodeSettings.EarlyExitWarmK2;
        var wholeMatrix = ValuesCollector.Collect(models.TinyFm, [.. whole.Samples.Select(s => s.Observation)], decode, DiscrepancyMetric.Cosine, seed: 7, batchSize: 16);

        var shardMatrices = new List<ValuesMatrix>();
        foreach (var shard in DatasetShards.Split(reader.Dataset, 3))
        {
            var samples = (await reader.ReadShardAsync(shard)).Samples;
            Assert.Equal(shard.FirstSampleIndex, samples[0].GlobalIndex);
            shardMatrices.Add(ValuesCollector.Collect(models.TinyFm, [.. samples.Select(s => s.Observation)], decode, DiscrepancyMetric.Cosine,
                seed: 7, firstSampleIndex: shard.FirstSampleIndex, batchSize: 5));
        }

        var joined = ValuesMatrix.Concat(shardMatrices);
        Assert.Equal((wholeMatrix.Exits, wholeMatrix.Samples), (joined.Exits, joined.Samples));
        for (var exit = 0; exit < wholeMatrix.Exits; exit++)
        {
            for (var sample = 0; sample < wholeMatrix.Samples; sample++)
            {
                // Batch composition changes float summation order inside ONNX Runtime, nothing more.
                Assert.True(Math.Abs(wholeMatrix[exit, sample] - joined[exit, sample]) <= 1e-6, $"exit {exit} sample {sample}: {wholeMatrix[exit, sample]} vs {joined[exit, sample]}");
            }
        }

        var wholeSet = ThresholdSet.Calibrate(wholeMatrix, "cosine", ExitFamily.Exp, 0.4, models.TinyFm.ExitLayers.ToList(), models.TinyFm.Layers, exitBlockRuns: true, "m", "v", "s", DateTimeOffset.UnixEpoch);
        var joinedSet = ThresholdSet.Calibrate(joined, "cosine", ExitFamily.Exp, 0.4, models.TinyFm.ExitLayers.ToList(), models.TinyFm.Layers, exitBlockRuns: true, "m", "v", "s", DateTimeOffset.UnixEpoch);
        Assert.Equal(wholeSet.ExpectedExitShares, joinedSet.ExpectedExitShares);
    }
}
