using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Datasets.Sharding;

/// <summary>
/// A run of whole episodes for one worker. Shards are contiguous in episode order, so the shards'
/// values matrices, concatenated in shard order, are the single-process matrix.
/// </summary>
public sealed record DatasetShard(int ShardIndex, IReadOnlyList<int> Episodes, int FirstSampleIndex, int SampleCount);

/// <summary>Deterministic splitting of a dataset's episodes into shards of about equal frame counts.</summary>
public static class DatasetShards
{
    public static IReadOnlyList<DatasetShard> Split(LeRobotDataset dataset, int shardCount) =>
        Split(dataset, dataset.Episodes.Select(e => e.EpisodeIndex).ToList(), shardCount);

    /// <summary>
    /// Splits <paramref name="episodes"/> (e.g. the calibration episodes, held-out ones left out)
    /// into <paramref name="shardCount"/> contiguous runs: shard s ends at the first episode whose
    /// cumulative frame count reaches (s+1)/shardCount of the total, and every shard gets at least
    /// one episode. <see cref="DatasetShard.FirstSampleIndex"/> is the global index of the shard's
    /// first frame, the firstSampleIndex to pass to ValuesCollector.Collect.
    /// </summary>
    /// <exception cref="ArgumentException">shardCount below 1 or above the episode count, or an unknown episode.</exception>
    public static IReadOnlyList<DatasetShard> Split(LeRobotDataset dataset, IReadOnlyList<int> episodes, int shardCount)
    {
        var ordered = episodes.Distinct().Order().ToList();
        if (shardCount < 1 || shardCount > ordered.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount,
                $"shard count must be between 1 and the {ordered.Count} episodes to split (shards hold whole episodes)");
        }

        var unknown = ordered.Where(e => !dataset.HasEpisode(e)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"dataset '{dataset.Directory}' has no episode(s) {string.Join(", ", unknown)}", nameof(episodes));
        }

        long total = ordered.Sum(e => (long)dataset.Episode(e).Length);
        var shards = new List<DatasetShard>(shardCount);
        var next = 0;
        long cumulative = 0;
        for (var shard = 0; shard < shardCount; shard++)
        {
            var members = new List<int>();
            var remainingShards = shardCount - shard - 1;
            // Integer target: no floating point, so every process cuts at the same episode.
            var target = total * (shard + 1) / shardCount;
            while (next < ordered.Count - remainingShards && (members.Count == 0 || cumulative < target || shard == shardCount - 1))
            {
                members.Add(ordered[next]);
                cumulative += dataset.Episode(ordered[next]).Length;
                next++;
            }

            var samples = members.Sum(e => dataset.Episode(e).Length);
            shards.Add(new DatasetShard(shard, members, dataset.FirstGlobalIndex(members[0]), samples));
        }

        return shards;
    }
}
