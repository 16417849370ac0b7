using System.CommandLine;

namespace A1Fleet.Operator.Client;

/// <summary>
/// A command with checks across its flags (which flags go together, whether a file exists) that run after parsing
/// alongside the parser's own errors, so every problem with a command line is listed at once. (A System.CommandLine
/// command validator that reports a problem stops the parser from checking the command's options, hiding their errors.)
/// </summary>
public sealed class CheckedCommand(string name, string? description = null) : Command(name, description), IEnumerable<Symbol>
{
    /// <summary>Each returns the problems it finds; a flag whose own value is wrong or missing is the parser's to report (reading it throws, and the check is skipped).</summary>
    public List<Func<ParseResult, IEnumerable<string>>> Checks { get; } = [];

    /// <summary>Every problem with the command line: the parser's, then the chosen command's checks.</summary>
    public static IReadOnlyList<string> Problems(ParseResult parsed)
    {
        var problems = parsed.Errors.Select(e => e.Message).ToList();
        if (parsed.CommandResult.Command is CheckedCommand checkedCommand)
        {
            foreach (var check in checkedCommand.Checks)
            {
                try
                {
                    problems.AddRange([.. check(parsed)]);
                }
                catch (InvalidOperationException)
                {
                    // A value the check needs is missing or wrong, which the parser has reported.
                }
            }
        }

        return problems;
    }

    IEnumerator<Symbol> IEnumerable<Symbol>.GetEnumerator() => Children.GetEnumerator();
}
