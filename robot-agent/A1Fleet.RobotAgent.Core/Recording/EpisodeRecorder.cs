using System.Threading.Channels;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Writing;
using A1Fleet.Grains;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Recording;

/// <summary>
/// Writes the episodes control loops hand it into LeRobot datasets, one per (model, embodiment) under
/// <see cref="EpisodeRecordingOptions.Directory"/>. Control loops only queue finished episodes; PNG encoding
/// and parquet writing happen on one background writer, so a tick never waits on the disk. One recorder may
/// serve many arms (the fleet demo shares one across its agents). Each dataset is locked for this process
/// while it records (<c>.recording.lock</c>): two processes appending to one dataset would corrupt it.
/// Datasets are appended to, and their metadata rewritten after each episode, so a killed agent leaves a
/// readable dataset holding every episode it finished. Disposing writes what is queued and releases the locks.
/// </summary>
public sealed partial class EpisodeRecorder : IAsyncDisposable
{
    public const string LockFile = ".recording.lock";

    private readonly Channel<RecordedEpisode> _queue = Channel.CreateUnbounded<RecordedEpisode>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, DatasetTarget> _targets = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly ILogger<EpisodeRecorder> _logger;
    private readonly Task _writing;
    private int _dropped;
    private int _failed;
    private string? _lastError;

    public EpisodeRecorder(IOptions<EpisodeRecordingOptions> options, ILogger<EpisodeRecorder> logger)
    {
        var validation = new EpisodeRecordingOptionsValidator().Validate(null, options.Value);
        if (validation.Failed)
        {
            throw new OptionsValidationException(EpisodeRecordingOptions.SectionName, typeof(EpisodeRecordingOptions), validation.Failures);
        }

        Options = options.Value;
        _logger = logger;
        if (Options.Enabled)
        {
            Root = Path.GetFullPath(Options.Directory!);
            _writing = Task.Run(WriteQueuedAsync);
        }
        else
        {
            _queue.Writer.TryComplete();
            _writing = Task.CompletedTask;
        }
    }

    public EpisodeRecordingOptions Options { get; }

    public bool Enabled => Options.Enabled;

    /// <summary>Absolute root folder; null when recording is off.</summary>
    public string? Root { get; }

    /// <summary>The dataset folder an arm of <paramref name="embodiment"/> running <paramref name="modelId"/> records into.</summary>
    public string DatasetDirectory(string modelId, Embodiment embodiment) =>
        Path.Combine(Root ?? throw new InvalidOperationException("recording is off"), $"{modelId}-{embodiment.ToString().ToLowerInvariant()}");

    /// <summary>Queues a finished episode; false when recording is off or the recorder is shutting down.</summary>
    public bool Submit(RecordedEpisode episode) => _queue.Writer.TryWrite(episode);

    /// <summary>Counts an episode a control loop dropped for being shorter than <see cref="EpisodeRecordingOptions.MinEpisodeFrames"/>.</summary>
    public void OnDropped() => Interlocked.Increment(ref _dropped);

    public RecordingSummary Summary()
    {
        lock (_gate)
        {
            return new RecordingSummary(
                [.. _targets.Values.Where(t => t.Writer is not null).Select(t => new RecordedDataset(t.Directory, t.ModelId, t.Embodiment, t.Episodes, t.Frames, t.Writer!.EpisodeCount))],
                Volatile.Read(ref _dropped), _failed, _lastError);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing.ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var target in _targets.Values)
            {
                target.Lock?.Dispose();
            }
        }
    }

    private async Task WriteQueuedAsync()
    {
        await foreach (var episode in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var target = TargetFor(episode);
            if (target.Writer is null)
            {
                Fail($"{target.Directory}: {target.Error}");
                continue;
            }

            try
            {
                var index = await target.Writer.WriteEpisodeAsync(episode.Frames).ConfigureAwait(false);
                lock (_gate)
                {
                    target.Episodes++;
                    target.Frames += episode.Frames.Count;
                }

                LogEpisodeWritten(episode.RobotId, index, episode.Frames.Count, target.Directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Fail($"{target.Directory}: {ex.Message}");
                LogEpisodeFailed(ex, episode.RobotId, target.Directory);
            }
        }
    }

    private DatasetTarget TargetFor(RecordedEpisode episode)
    {
        var directory = DatasetDirectory(episode.Model.ModelId, episode.Embodiment);
        lock (_gate)
        {
            if (_targets.TryGetValue(directory, out var known))
            {
                return known;
            }
        }

        var target = new DatasetTarget(directory, episode.Model.ModelId, episode.Embodiment);
        try
        {
            Directory.CreateDirectory(directory);
            target.Lock = TakeLock(directory);
            target.Writer = LeRobotDatasetWriter.Append(directory, LayoutOf(episode));
            LogDatasetOpened(directory, target.Writer.EpisodeCount);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or DatasetFormatException)
        {
            target.Lock?.Dispose();
            target.Lock = null;
            target.Writer = null;
            target.Error = ex.Message;
            LogDatasetRefused(ex, directory);
        }

        lock (_gate)
        {
            _targets[directory] = target;
        }

        return target;
    }

    private static FileStream TakeLock(string directory)
    {
        var path = Path.Combine(directory, LockFile);
        try
        {
            // FileShare.None takes an exclusive advisory lock on Unix too, so a second process is refused here.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException ex)
        {
            throw new IOException($"another process is recording into '{directory}' ({LockFile} is locked); give each agent process its own --record folder", ex);
        }
    }

    /// <summary>The dataset layout of an arm on a model: the model's cameras, state and action dims at the arm's control rate, named by joint.</summary>
    public static DatasetLayout LayoutOf(RecordedEpisode episode) => new()
    {
        Fps = episode.Fps,
        RobotType = episode.Embodiment.ToString().ToLowerInvariant(),
        Cameras = [.. episode.Model.Cameras.Select(c => new CameraLayout(c.Name, c.Height, c.Width))],
        StateDim = episode.Model.StateDim,
        StateNames = Names(episode.JointNames, episode.Model.StateDim),
        ActionDim = episode.Model.ActionDim,
        ActionNames = Names(episode.JointNames, episode.Model.ActionDim),
    };

    // Dims the arm has no joint for are recorded too (the model sees them), named so nobody mistakes them for one.
    private static string[] Names(IReadOnlyList<string> joints, int dims) =>
        [.. Enumerable.Range(0, dims).Select(i => i < joints.Count ? joints[i] : $"unused_{i}")];

    private void Fail(string error)
    {
        lock (_gate)
        {
            _failed++;
            _lastError = error;
        }
    }

    private sealed class DatasetTarget(string directory, string modelId, Embodiment embodiment)
    {
        public string Directory { get; } = directory;

        public string ModelId { get; } = modelId;

        public Embodiment Embodiment { get; } = embodiment;

        public LeRobotDatasetWriter? Writer { get; set; }

        public FileStream? Lock { get; set; }

        public string? Error { get; set; }

        public int Episodes { get; set; }

        public int Frames { get; set; }
    }

    [LoggerMessage(EventId = 740, Level = LogLevel.Information, Message = "Recording into {Directory} ({Episodes} episodes there already)")]
    private partial void LogDatasetOpened(string directory, int episodes);

    [LoggerMessage(EventId = 741, Level = LogLevel.Error, Message = "Cannot record into {Directory}; its episodes are dropped")]
    private partial void LogDatasetRefused(Exception exception, string directory);

    [LoggerMessage(EventId = 742, Level = LogLevel.Debug, Message = "Robot {RobotId}: episode {Episode} ({Frames} frames) written to {Directory}")]
    private partial void LogEpisodeWritten(string robotId, int episode, int frames, string directory);

    [LoggerMessage(EventId = 743, Level = LogLevel.Error, Message = "Robot {RobotId}: an episode could not be written to {Directory}")]
    private partial void LogEpisodeFailed(Exception exception, string robotId, string directory);
}
