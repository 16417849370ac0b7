using A1Fleet.CalibrationJobs.Commands;

namespace A1Fleet.CalibrationJobs.Cli;

/// <summary>Verb dispatch; each verb parses its own options and reports every error at once.</summary>
public static class CliApp
{
    public const string UsageText = """
        usage:
          calibrate --model DIR --dataset DIR [--mapping FILE] [--families exp,gauss,gamma] [--r 1.0,0.7,0.4,0.1]
                    [--metric cosine|l2|mean|max] [--decode exit-warm-k2|exit-cold-k2|exit-cold-k10]
                    [--bad-data fail|skip] [--holdout-share 0.25] [--out DIR] [--batch 16]
                    [--threads 0] [--provider cpu|cuda] [--seed 0] [--forbid-first-exit] [--ffmpeg PATH]
              stand-alone: runs the model here; writes the sets and calibration-report.json to --out
              (default artifacts/calibration) and measures the sets on held-out episodes.
          calibrate --cluster URL --model ID|DIR --dataset DIR [--families ...] [--r ...] [--metric ...] [--decode ...]
                    [--bad-data fail|skip] [--holdout-share 0.25] [--batch 16] [--shards 4] [--make-live SET]
                    [--job-id ID] [--no-wait] [--out DIR]
              cluster: submits the same sweep to the silos' operator API at URL (e.g. http://a1fleet-silo:8080);
              the GPU silos read the dataset at that path (absolute; relative paths are resolved here) and run
              the shards; prints the same table from the published sets (and writes them to --out if given).
              --model is the id the silos serve, or a local package directory to read it from; --make-live SET
              (e.g. exp-r0.7-cosine) makes that set live; --no-wait returns once the job is accepted.
              Ctrl-C cancels the cluster job; with --no-wait the job is left running.
              Defaults that differ: --decode exit-warm-k2 (the reference models' default) instead of the model's.
          convert-samples --model DIR --out DIR [--fps 20] [--overwrite]
          export-training --dataset DIR --out DIR
              a LeRobot dataset (image features) to numpy files for a Python trainer: meta.json, state.npy,
              action.npy, images.npy, episode.npy, frame.npy (format a1fleet-training-v1, docs/policy.md)
        exit codes: 0 done (or submitted, with --no-wait); 1 failed (bad data, model or mapping; the cluster
          unreachable, refusing the job, or the job failed or canceled there); 2 bad command line; 130 Ctrl-C
        see docs/calibration.md
        """;

    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        RunAsync(args, output, error, TimeProvider.System, cancellationToken);

    /// <summary>Runs one command; <paramref name="timeProvider"/> paces a cluster job's polling and stamps its id.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        try
        {
            return (args.Count > 0 ? args[0] : null) switch
            {
                "calibrate" => await CalibrateCommand.RunAsync(args.Skip(1).ToList(), output, error, timeProvider, cancellationToken),
                "convert-samples" => await ConvertSamplesCommand.RunAsync(args.Skip(1).ToList(), output, error, cancellationToken),
                "export-training" => await ExportTrainingCommand.RunAsync(args.Skip(1).ToList(), output, error, cancellationToken),
                "help" or "--help" or "-h" => Usage(output, ExitCodes.Success),
                null => Usage(error, ExitCodes.Usage),
                var verb => UnknownVerb(verb, error),
            };
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("canceled");
            return ExitCodes.Canceled;
        }
        catch (Exception ex)
        {
            // Expected failures are reported by the commands; this is a bug or an environment
            // problem (e.g. the CUDA provider missing), so keep the stack for the report.
            await error.WriteLineAsync($"unexpected failure: {ex}");
            return ExitCodes.Failed;
        }
    }

    /// <summary>Prints option errors, all of them, then the usage.</summary>
    internal static int UsageErrors(IReadOnlyList<string> errors, TextWriter error)
    {
        error.WriteLine($"{errors.Count} problem(s) with the command line:");
        foreach (var message in errors)
        {
            error.WriteLine($"  - {message}");
        }

        error.WriteLine(UsageText);
        return ExitCodes.Usage;
    }

    private static int Usage(TextWriter writer, int code)
    {
        writer.WriteLine(UsageText);
        return code;
    }

    private static int UnknownVerb(string verb, TextWriter error)
    {
        error.WriteLine($"unknown command '{verb}'");
        error.WriteLine(UsageText);
        return ExitCodes.Usage;
    }
}
