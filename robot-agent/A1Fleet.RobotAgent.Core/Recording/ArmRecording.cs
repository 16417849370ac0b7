using A1Fleet.Datasets.Writing;
using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Recording;

/// <summary>
/// One arm's episodes in the making, fed by its control loop on the tick. An episode opens when a chunk for a
/// task starts moving the arm and closes when the task changes or is cleared, on e-stop, hold or lease loss,
/// when the loop stops, or after <see cref="EpisodeRecordingOptions.MaxEpisodeSeconds"/>; then it goes to the
/// shared <see cref="EpisodeRecorder"/> whole, or is dropped when shorter than
/// <see cref="EpisodeRecordingOptions.MinEpisodeFrames"/>. Not thread-safe: only the arm's tick calls it.
/// </summary>
public sealed class ArmRecording
{
    private readonly EpisodeRecorder _recorder;
    private readonly string _robotId;
    private readonly Embodiment _embodiment;
    private readonly double _fps;
    private readonly ModelSpec _model;
    private readonly IReadOnlyList<string> _jointNames;
    private readonly int _maxFrames;
    private readonly int _minFrames;
    private List<RecordedFrame>? _frames;
    private string? _task;

    public ArmRecording(EpisodeRecorder recorder, string robotId, Embodiment embodiment, double fps, ModelSpec model, IReadOnlyList<string> jointNames)
    {
        if (!recorder.Enabled)
        {
            throw new ArgumentException("the recorder is off (no A1Fleet:Recording:Directory)", nameof(recorder));
        }

        _recorder = recorder;
        _robotId = robotId;
        _embodiment = embodiment;
        _fps = fps;
        _model = model;
        _jointNames = jointNames;
        _maxFrames = Math.Max(1, (int)Math.Round(recorder.Options.MaxEpisodeSeconds * fps));
        _minFrames = recorder.Options.MinEpisodeFrames;
    }

    public bool IsOpen => _frames is not null;

    /// <summary>The open episode's task; null when none is open.</summary>
    public string? Task => _frames is null ? null : _task;

    /// <summary>Episodes handed to the recorder.</summary>
    public int EpisodesSubmitted { get; private set; }

    /// <summary>Episodes dropped for being too short.</summary>
    public int EpisodesDropped { get; private set; }

    public void Open(string task)
    {
        Close();
        _task = task;
        _frames = new List<RecordedFrame>(Math.Min(_maxFrames, 1024));
    }

    /// <summary>Adds the tick's frame; the arrays become the recorder's. Closes the episode when it is full.</summary>
    public void Add(float[] modelState, float[] modelAction, byte[][] images)
    {
        if (_frames is null)
        {
            throw new InvalidOperationException("no episode is open");
        }

        _frames.Add(new RecordedFrame(_task!, modelState, modelAction, images));
        if (_frames.Count >= _maxFrames)
        {
            Close();
        }
    }

    public void Close()
    {
        var frames = _frames;
        _frames = null;
        if (frames is null)
        {
            return;
        }

        if (frames.Count < _minFrames)
        {
            EpisodesDropped++;
            _recorder.OnDropped();
            return;
        }

        if (_recorder.Submit(new RecordedEpisode(_robotId, _embodiment, _fps, _model, _jointNames, frames)))
        {
            EpisodesSubmitted++;
        }
    }
}
