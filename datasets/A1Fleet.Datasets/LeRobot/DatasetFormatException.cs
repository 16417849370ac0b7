namespace A1Fleet.Datasets.LeRobot;

/// <summary>The dataset's metadata (info.json, episodes.jsonl, tasks.jsonl) is missing or inconsistent; lists every problem.</summary>
public sealed class DatasetFormatException : Exception
{
    public DatasetFormatException(string message) : base(message) { }
    public DatasetFormatException(string message, Exception inner) : base(message, inner) { }

    public DatasetFormatException(string directory, IReadOnlyList<string> problems)
        : base($"dataset '{directory}' is not a usable LeRobot v2.x dataset:\n  - " + string.Join("\n  - ", problems))
    {
        Problems = problems;
    }

    public IReadOnlyList<string> Problems { get; } = [];
}
