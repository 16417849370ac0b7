using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Reading;

/// <summary>
/// One frame as a model observation. <see cref="GlobalIndex"/> is the frame's position in the whole
/// dataset (episodes in index order), the same whichever shard reads it and whatever is skipped:
/// calibration seeds each sample from it.
/// </summary>
public sealed record DatasetSample(int GlobalIndex, int Episode, int Frame, ObservationSample Observation);

/// <summary>Samples read, in global-index order, with what was used and skipped.</summary>
public sealed record DatasetReadResult(IReadOnlyList<DatasetSample> Samples, DatasetReadSummary Summary);
