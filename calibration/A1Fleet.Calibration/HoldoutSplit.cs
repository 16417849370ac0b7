using A1Fleet.Datasets.Reading;

namespace A1Fleet.Calibration;

/// <summary>Calibration and held-out samples, split by whole episodes.</summary>
public sealed record HoldoutSplit(
    IReadOnlyList<DatasetSample> Calibration,
    IReadOnlyList<DatasetSample> HeldOut,
    IReadOnlyList<int> CalibrationEpisodes,
    IReadOnlyList<int> HeldOutEpisodes)
{
    /// <summary>
    /// The first ceil(E (1 - share)) episodes by index calibrate, the rest are held out, as the
    /// reference packages split their samples (so a converted package calibrates on the same data).
    /// </summary>
    /// <exception cref="ArgumentException">No samples, or a share that leaves no calibration episode.</exception>
    public static HoldoutSplit ByEpisode(IReadOnlyList<DatasetSample> samples, double heldOutShare)
    {
        if (!(heldOutShare >= 0 && heldOutShare < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(heldOutShare), heldOutShare, "the held-out share must be in [0, 1)");
        }

        var episodes = samples.Select(s => s.Episode).Distinct().Order().ToList();
        if (episodes.Count == 0)
        {
            throw new ArgumentException("there are no samples to split", nameof(samples));
        }

        var calibrationCount = (int)Math.Ceiling(episodes.Count * (1 - heldOutShare));
        var calibrationEpisodes = episodes.Take(calibrationCount).ToList();
        var heldOutEpisodes = episodes.Skip(calibrationCount).ToList();
        var calibrationSet = calibrationEpisodes.ToHashSet();
        return new HoldoutSplit(
            [.. samples.Where(s => calibrationSet.Contains(s.Episode)).OrderBy(s => s.GlobalIndex)],
            [.. samples.Where(s => !calibrationSet.Contains(s.Episode)).OrderBy(s => s.GlobalIndex)],
            calibrationEpisodes,
            heldOutEpisodes);
    }
}
