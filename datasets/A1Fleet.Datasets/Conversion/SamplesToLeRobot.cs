using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Writing;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Conversion;

/// <summary>
/// Converts a model package's sample observations (samples.json) into a LeRobot dataset, so the
/// reference models can be calibrated through the same dataset path as real recordings.
/// </summary>
public static class SamplesToLeRobot
{
    /// <summary>Rate stamped on converted frames; A1's real robots act at 20 Hz.</summary>
    public const double DefaultFps = 20;

    /// <summary>
    /// Episodes in ascending order of <see cref="ObservationSample.Episode"/> become dataset
    /// episodes 0..E-1 (frames in file order). Each frame's action is the first step of its recorded
    /// chunk; reading back with the action mapped rebuilds chunks from the following frames, equal
    /// to the originals except in the last H-1 frames of an episode (padded with the last action).
    /// </summary>
    public static async Task<ConversionResult> ConvertAsync(
        IReadOnlyList<ObservationSample> samples,
        ModelManifest manifest,
        string directory,
        double fps = DefaultFps,
        bool overwrite = false,
        CancellationToken cancellationToken = default)
    {
        if (samples.Count == 0)
        {
            throw new ArgumentException("there are no samples to convert", nameof(samples));
        }

        var validDims = DatasetMapping.ValidActionDims(manifest);
        var chunkValues = manifest.Action.Chunk * validDims;
        var withAction = samples.All(s => s.Actions is { } a && a.Length == chunkValues);
        var layout = DatasetLayout.ForModel(manifest, fps, robotType: $"a1fleet-sim/{manifest.ModelId}", withAction);
        var writer = LeRobotDatasetWriter.Create(directory, layout, overwrite);
        var episodes = samples.Select((s, i) => (Sample: s, Order: i)).GroupBy(x => x.Sample.Episode).OrderBy(g => g.Key);
        foreach (var episode in episodes)
        {
            var frames = episode.OrderBy(x => x.Order).Select(x => new RecordedFrame(
                x.Sample.Instruction,
                x.Sample.State,
                withAction ? x.Sample.Actions![..validDims] : null,
                x.Sample.Images)).ToList();
            await writer.WriteEpisodeAsync(frames, cancellationToken);
        }

        await writer.CompleteAsync(cancellationToken);
        return new ConversionResult(writer.Directory, writer.EpisodeCount, samples.Count, withAction);
    }

    /// <summary>Converts the samples shipped with a model package.</summary>
    public static Task<ConversionResult> ConvertPackageAsync(ModelPackage package, string directory, double fps = DefaultFps, bool overwrite = false, CancellationToken cancellationToken = default) =>
        ConvertAsync(package.LoadSamples(), package.Manifest, directory, fps, overwrite, cancellationToken);
}

public sealed record ConversionResult(string Directory, int Episodes, int Frames, bool WithAction);
