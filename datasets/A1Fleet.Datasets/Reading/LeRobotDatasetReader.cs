using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Parquet;
using A1Fleet.Datasets.Sharding;
using A1Fleet.Datasets.Video;
using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Reading;

/// <summary>
/// Reads LeRobot v2.x episodes as model observations through a <see cref="DatasetMapping"/>.
/// Whole-episode problems (missing or unreadable file, empty episode, a frame count that disagrees
/// with episodes.jsonl) and per-frame problems (bad state or action, missing or corrupt image,
/// unknown task) either fail the read or are skipped and summarised, per <see cref="BadDataPolicy"/>.
/// </summary>
public sealed class LeRobotDatasetReader
{
    private readonly LeRobotDataset _dataset;
    private readonly DatasetMapping _mapping;
    private readonly DatasetReadOptions _options;
    private readonly List<CameraSource> _cameras;
    private readonly List<ColumnRequest> _columns;
    private readonly FfmpegVideoDecoder? _video;
    private readonly ModelManifest _manifest;

    /// <exception cref="MappingException">The mapping does not fit the model or the dataset (every problem listed).</exception>
    /// <exception cref="DatasetFormatException">A mapped camera is a video feature and ffmpeg cannot be started.</exception>
    public LeRobotDatasetReader(LeRobotDataset dataset, ModelManifest manifest, DatasetMapping mapping, DatasetReadOptions? options = null)
    {
        DatasetMappingValidator.ThrowIfInvalid(mapping, manifest, dataset);
        _dataset = dataset;
        _manifest = manifest;
        _mapping = mapping;
        _options = options ?? new DatasetReadOptions();
        _cameras = [.. manifest.Cameras.Select(c => new CameraSource(c, mapping.Cameras[c.Name], dataset.Info.Features[mapping.Cameras[c.Name]].IsVideo))];
        _columns = Columns();
        if (_cameras.FirstOrDefault(c => c.IsVideo) is { } videoCamera)
        {
            _video = new FfmpegVideoDecoder(_options.FfmpegExecutable);
            if (!_video.IsAvailable())
            {
                throw new DatasetFormatException(
                    $"feature '{videoCamera.FeatureKey}' (model camera '{videoCamera.Camera.Name}') of dataset '{dataset.Directory}' is stored as video (dtype \"video\"). " +
                    $"Reading video needs ffmpeg and '{_options.FfmpegExecutable}' could not be started: install it (Debian: apt-get install ffmpeg) or give its path, " +
                    "or re-record the dataset with image storage (dtype \"image\", as LeRobotDatasetWriter and LeRobot's use_videos=False do).");
            }
        }
    }

    public LeRobotDataset Dataset => _dataset;

    public Task<DatasetReadResult> ReadAllAsync(CancellationToken cancellationToken = default) =>
        ReadEpisodesAsync(_dataset.Episodes.Select(e => e.EpisodeIndex), cancellationToken);

    /// <summary>The samples of one shard, with global indices as in the whole dataset.</summary>
    public Task<DatasetReadResult> ReadShardAsync(DatasetShard shard, CancellationToken cancellationToken = default) =>
        ReadEpisodesAsync(shard.Episodes, cancellationToken);

    /// <summary>Reads the given episodes (in index order, whatever order they are given in).</summary>
    /// <exception cref="BadDataException">Under <see cref="BadDataPolicy.Fail"/>, the first problem.</exception>
    public async Task<DatasetReadResult> ReadEpisodesAsync(IEnumerable<int> episodeIndices, CancellationToken cancellationToken = default)
    {
        var episodes = episodeIndices.Distinct().Order().ToList();
        var unknown = episodes.Where(e => !_dataset.HasEpisode(e)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"dataset '{_dataset.Directory}' has no episode(s) {string.Join(", ", unknown)} in {LeRobotDataset.EpisodesFile}", nameof(episodeIndices));
        }

        var samples = new List<DatasetSample>();
        var problems = new List<DataProblem>();
        var resizes = new ResizeTally();
        var assembler = new FrameAssembler(_dataset, _manifest, _mapping, _cameras, resizes);
        var episodesUsed = 0;
        foreach (var episode in episodes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var before = samples.Count;
            await ReadEpisodeAsync(episode, assembler, samples, problems, resizes, cancellationToken);
            if (samples.Count > before)
            {
                episodesUsed++;
            }
        }

        var summary = new DatasetReadSummary
        {
            EpisodesRequested = episodes.Count,
            EpisodesUsed = episodesUsed,
            SamplesUsed = samples.Count,
            SamplesSkipped = problems.Sum(p => p.SamplesAffected),
            Problems = problems,
            Notes = resizes.Notes(_cameras),
        };
        return new DatasetReadResult(samples, summary);
    }

    private async Task ReadEpisodeAsync(int episode, FrameAssembler assembler, List<DatasetSample> samples, List<DataProblem> problems, ResizeTally resizes, CancellationToken ct)
    {
        var metadata = _dataset.Episode(episode);
        var file = _dataset.EpisodeDataPath(episode);
        void EpisodeProblem(DataProblemKind kind, string reason) =>
            Report(new DataProblem(kind, episode, null, file, reason, metadata.Length), problems);

        if (metadata.Length == 0)
        {
            EpisodeProblem(DataProblemKind.EmptyEpisode, $"the episode is empty ({LeRobotDataset.EpisodesFile} gives length 0)");
            return;
        }

        var path = _dataset.FullPath(file);
        if (!File.Exists(path))
        {
            EpisodeProblem(DataProblemKind.MissingFile, $"the episode's data file is missing (expected '{path}')");
            return;
        }

        EpisodeTable table;
        try
        {
            table = await EpisodeTableReader.ReadAsync(path, _columns, ct);
        }
        catch (InvalidDataException ex)
        {
            EpisodeProblem(DataProblemKind.UnreadableFile, ex.Message);
            return;
        }

        if (table.Rows == 0)
        {
            EpisodeProblem(DataProblemKind.EmptyEpisode, "the episode is empty (its parquet file has no rows)");
            return;
        }

        if (table.Rows != metadata.Length)
        {
            EpisodeProblem(DataProblemKind.LengthMismatch, $"the file holds {table.Rows} frames but {LeRobotDataset.EpisodesFile} gives length {metadata.Length}");
            return;
        }

        var videoFrames = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        foreach (var camera in _cameras.Where(c => c.IsVideo))
        {
            var videoFile = _dataset.EpisodeVideoPath(camera.FeatureKey, episode);
            var videoPath = _dataset.FullPath(videoFile);
            if (!File.Exists(videoPath))
            {
                Report(new DataProblem(DataProblemKind.MissingFile, episode, null, videoFile, $"the {camera.FeatureKey} video is missing (expected '{videoPath}')", metadata.Length), problems);
                return;
            }

            try
            {
                videoFrames[camera.FeatureKey] = await _video!.DecodeAsync(videoPath, camera.Camera.Height, camera.Camera.Width, ct);
                resizes.AddVideo(camera);
            }
            catch (InvalidDataException ex)
            {
                Report(new DataProblem(DataProblemKind.UnreadableFile, episode, null, videoFile, ex.Message, metadata.Length), problems);
                return;
            }
        }

        var firstGlobalIndex = _dataset.FirstGlobalIndex(episode);
        var frames = new FrameAssembler.Episode(episode, file, table, videoFrames);
        for (var row = 0; row < table.Rows; row++)
        {
            var (sample, problem) = assembler.Assemble(frames, row);
            if (problem is not null)
            {
                Report(problem, problems);
                continue;
            }

            samples.Add(new DatasetSample(firstGlobalIndex + row, episode, row, sample!));
        }
    }

    private void Report(DataProblem problem, List<DataProblem> problems)
    {
        if (_options.BadData == BadDataPolicy.Fail)
        {
            throw new BadDataException(problem, _dataset.Directory);
        }

        problems.Add(problem);
    }

    private List<ColumnRequest> Columns()
    {
        var columns = new List<ColumnRequest> { new(_mapping.StateKey, ColumnKind.Vector) };
        if (_mapping.ActionKey is { } action)
        {
            columns.Add(new(action, ColumnKind.Vector));
        }

        foreach (var camera in _cameras.Where(c => !c.IsVideo))
        {
            columns.Add(new(camera.FeatureKey, ColumnKind.Image));
        }

        columns.Add(new(FeatureKeys.Timestamp, ColumnKind.Real, Required: _cameras.Any(c => c.IsVideo)));
        if (_mapping.Instruction is null)
        {
            columns.Add(new(FeatureKeys.TaskIndex, ColumnKind.Integer, Required: false));
        }

        return columns;
    }
}
