namespace A1Fleet.Datasets.Reading;

public enum DataProblemKind
{
    MissingFile,
    UnreadableFile,
    EmptyEpisode,
    LengthMismatch,
    BadState,
    BadAction,
    MissingImage,
    CorruptImage,
    UnknownTask,
    MissingVideoFrame,
}

/// <summary>
/// Something the reader could not use: a whole episode (<see cref="Frame"/> null) or one frame.
/// <see cref="File"/> is relative to the dataset root.
/// </summary>
public sealed record DataProblem(DataProblemKind Kind, int Episode, int? Frame, string File, string Reason, int SamplesAffected)
{
    public override string ToString() => Frame is { } frame
        ? $"episode {Episode}, frame {frame} ({File}): {Reason}"
        : $"episode {Episode} ({File}): {Reason}";
}

/// <summary>Bad data under <see cref="BadDataPolicy.Fail"/>; the message names the episode, frame and file.</summary>
public sealed class BadDataException : Exception
{
    public BadDataException(string message) : base(message) { }
    public BadDataException(string message, Exception inner) : base(message, inner) { }

    public BadDataException(DataProblem problem, string datasetDirectory)
        : base($"bad data in dataset '{datasetDirectory}': {problem} (run with the Skip policy, --bad-data skip, to leave such samples out)")
    {
        Problem = problem;
    }

    public DataProblem? Problem { get; }
}
