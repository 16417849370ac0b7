using System.CommandLine;
using A1Fleet.CalibrationJobs.Commands;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Cli;

/// <summary>
/// The calibration job's command line on System.CommandLine: generated help, every problem with the command line
/// listed at once (unknown options, stray words, bad values, flags the chosen mode cannot honour) before anything
/// runs (exit 2), failures reported without a stack trace (exit 1), Ctrl-C cancelling the run, and with it the
/// cluster job this command submitted (exit 130).
/// </summary>
public static class CliApp
{
    private const string Description = """
        The calibration job: a LeRobot dataset in, exit-threshold sets and a report out (docs/calibration.md).
          calibrate --model DIR --dataset DIR ...          stand-alone: runs the model here; writes the sets and
                                                           calibration-report.json to --out (default artifacts/calibration)
          calibrate --cluster URL --model ID|DIR --dataset DIR ...
                                                           cluster: submits the same sweep to the silos' operator API at URL
                                                           (the same job as a1ctl calibrate, with the same flags);
                                                           Ctrl-C cancels the cluster job; with --no-wait the job is left running
          convert-samples --model DIR --out DIR            a model package's samples.json to a LeRobot dataset
          export-training --dataset DIR --out DIR          a LeRobot dataset to numpy files for a Python trainer
        exit codes: 0 done (or submitted, with --no-wait); 1 failed (bad data, model or mapping; the cluster
          unreachable, refusing the job, or the job failed or canceled there); 2 bad command line; 130 Ctrl-C
        Progress bars are drawn when stderr is a terminal; otherwise each phase ends with one progress line.
        """;

    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        RunAsync(args, output, error, TimeProvider.System, progressBars: false, cancellationToken);

    /// <summary>Runs one command; <paramref name="timeProvider"/> paces a cluster job's polling and stamps its id.</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, TimeProvider timeProvider, CancellationToken cancellationToken = default) =>
        RunAsync(args, output, error, timeProvider, progressBars: false, cancellationToken);

    /// <summary>
    /// Runs one command; <paramref name="progressBars"/>: stderr is a terminal, so progress is a redrawn bar (otherwise
    /// one line per phase, when it ends).
    /// </summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, TimeProvider timeProvider, bool progressBars, CancellationToken cancellationToken)
    {
        // The old spelling of help.
        string[] line = args is ["help", ..] ? [.. args.Skip(1), "--help"] : [.. args];
        var parsed = Create(output, error, timeProvider, progressBars).Parse(line, Parsing);
        var problems = CheckedCommand.Problems(parsed);
        if (problems.Count > 0)
        {
            var command = parsed.CommandResult.Command;
            return UsageErrors(problems, error, command is RootCommand ? null : command.Name);
        }

        try
        {
            // Program.cs turns Ctrl-C into the token; the parser must not race it for the signal.
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("canceled");
            return ExitCodes.Canceled;
        }
        catch (Exception ex)
        {
            // Expected failures are reported by the commands; this is a bug or an environment problem (e.g. the CUDA
            // provider missing): its type and message, not a stack trace, on the operator's terminal.
            await error.WriteLineAsync($"unexpected failure: {ex.GetType().Name}: {ex.Message}");
            return ExitCodes.Failed;
        }
    }

    /// <summary>The command tree (tests parse old invocations against it).</summary>
    internal static RootCommand Create(TextWriter output, TextWriter error, TimeProvider timeProvider, bool progressBars)
    {
        var root = new RootCommand(Description);
        root.Subcommands.Add(new CalibrateCommandLine().Create((options, ct) => CalibrateCommand.RunAsync(options, output, error, timeProvider, progressBars, ct)));
        root.Subcommands.Add(ConvertSamplesCommand.Create(output, error));
        root.Subcommands.Add(ExportTrainingCommand.Create(output, error));
        return root;
    }

    /// <summary>Prints the command line's problems, all of them, and where help is.</summary>
    internal static int UsageErrors(IReadOnlyList<string> errors, TextWriter error, string? command = null)
    {
        error.WriteLine($"{errors.Count} problem(s) with the command line:");
        foreach (var message in errors)
        {
            error.WriteLine($"  - {message}");
        }

        error.WriteLine($"see: A1Fleet.CalibrationJobs {(command is null ? "" : command + " ")}--help");
        return ExitCodes.Usage;
    }
}
