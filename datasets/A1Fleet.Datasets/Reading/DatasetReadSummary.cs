using System.Text;

namespace A1Fleet.Datasets.Reading;

/// <summary>How many samples a read used and skipped, and why.</summary>
public sealed class DatasetReadSummary
{
    public required int EpisodesRequested { get; init; }
    public required int EpisodesUsed { get; init; }
    public required int SamplesUsed { get; init; }
    public required int SamplesSkipped { get; init; }

    /// <summary>Every problem met (all of them skipped: under Fail the first one throws instead).</summary>
    public required IReadOnlyList<DataProblem> Problems { get; init; }

    /// <summary>Things done to the data that a user should know about, such as image resizing.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>Skipped samples per kind of problem.</summary>
    public IReadOnlyDictionary<DataProblemKind, int> SkippedByKind =>
        Problems.GroupBy(p => p.Kind).ToDictionary(g => g.Key, g => g.Sum(p => p.SamplesAffected));

    /// <summary>A few lines for a console: totals, skip reasons with the first examples, notes.</summary>
    public string Describe(int examplesPerKind = 3)
    {
        var text = new StringBuilder();
        text.Append($"{SamplesUsed} samples used from {EpisodesUsed} of {EpisodesRequested} episodes, {SamplesSkipped} skipped");
        foreach (var group in Problems.GroupBy(p => p.Kind))
        {
            text.Append($"\n  skipped {group.Sum(p => p.SamplesAffected)} ({group.Key}), e.g.:");
            foreach (var problem in group.Take(examplesPerKind))
            {
                text.Append($"\n    {problem}");
            }
        }

        foreach (var note in Notes)
        {
            text.Append($"\n  note: {note}");
        }

        return text.ToString();
    }
}
