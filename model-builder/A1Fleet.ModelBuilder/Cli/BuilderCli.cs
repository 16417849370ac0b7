using System.CommandLine;
using System.CommandLine.Help;
using System.Diagnostics;
using System.Globalization;
using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Cli;

/// <summary>
/// The model builder's command line on System.CommandLine: <c>build (--preset NAME | --config FILE) --out DIR [--seed N]
/// [--thresholds none|shipped]</c>, <c>presets</c>, <c>config --preset NAME</c> (prints a preset as JSON, a starting point
/// for --config files) and <c>calibrate --package DIR</c> (adds the shipped threshold sets to any package with samples,
/// for example one exported by training/). Generated help; unknown options, stray words and bad values refused before
/// anything is written (exit 2); a failed build or calibration reported without a stack trace (exit 1). A build is
/// written into a staging directory beside <c>--out</c> and moved into place only when complete, so Ctrl-C (exit 130)
/// or a failure never leaves a half-written package; <c>--out</c> may be missing, empty or an earlier package.
/// </summary>
public static class BuilderCli
{
    /// <summary>Exit codes: 0 done, 1 failed (a config that does not validate, a package that cannot be read or written), 2 bad command line, 130 cancelled (Ctrl-C).</summary>
    public const int Ok = 0, Failed = 1, Usage = 2, Cancelled = 130;

    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var tree = new Tree(output, cancellationToken);
        var parsed = tree.Root.Parse(args, Parsing);
        var problems = parsed.Errors.Select(e => e.Message).Concat(tree.Checks(parsed)).ToList();
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                error.WriteLine($"error: {problem}");
            }

            var command = parsed.CommandResult.Command;
            error.WriteLine($"see: A1Fleet.ModelBuilder {(command is RootCommand ? "" : command.Name + " ")}--help");
            return Usage;
        }

        try
        {
            // Ctrl-C comes in through cancellationToken (Program.cs), checked between the files a build writes.
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            error.WriteLine("cancelled: nothing was written to --out");
            return Cancelled;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException or ModelPackageException)
        {
            error.WriteLine($"error: {ex.Message}");
            return Failed;
        }
    }

/// <summary>One parse's commands and options.</summary>
    private sealed class Tree
    {
        private readonly Option<string?> _preset = new("--preset") { Description = $"a shipped configuration: {string.Join(", ", ReferenceModelPresets.Names)}", HelpName = "NAME" };

        private readonly Option<string?> _configFile = new("--config") { Description = "a JSON config (config --preset NAME prints one to start from)", HelpName = "FILE" };

        private readonly Option<ulong?> _seed = new("--seed") { Description = "weight seed (default: the config's)", HelpName = "N" };

        private readonly Option<string> _out = new("--out") { Description = "the package directory to write", HelpName = "DIR", Required = true };

        private readonly Option<string> _thresholds = new("--thresholds")
        {
            Description = "shipped: also calibrate the exp-family sets r = 1.0, 0.7, 0.4, 0.1 on the package's calibration episodes and list them in the " +
                          "manifest (what the demo and tests serve; a fleet serving a package without sets runs every request at full depth)",
            HelpName = "none|shipped",
            DefaultValueFactory = _ => "none",
        };

        private readonly Option<string> _package = new("--package") { Description = "a model package with samples", HelpName = "DIR", Required = true };

        private readonly Option<bool> _forbidFirstExit = new("--forbid-first-exit")
        {
            Description = "calibrate with p_1 = 0 so no request exits at the first exit (A1's recipe for its 7B/8B models; for a package whose first exit " +
                          "cannot tell what the task needs, docs/policy.md)",
        };

        private readonly TextWriter _output;
        private readonly CancellationToken _cancellationToken;
        private readonly Command _build;
        private readonly Command _config;
        private readonly Command _calibrate;

        /// <summary>The command tree; <paramref name="output"/> gets what the commands print.</summary>
        public Tree(TextWriter output, CancellationToken cancellationToken)
        {
            _output = output;
            _cancellationToken = cancellationToken;
            _thresholds.CustomParser = r => r.Tokens[0].Value is "none" or "shipped" ? r.Tokens[0].Value : Error(r, $"--thresholds {r.Tokens[0].Value}: use none or shipped", "none");
            _seed.CustomParser = r => ulong.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seed) ? seed
                : Error<ulong?>(r, $"--seed {r.Tokens[0].Value}: must be a non-negative whole number", null);
            _build = new Command("build", "build a reference model package from a preset or a JSON config") { _preset, _configFile, _seed, _out, _thresholds };
            _config = new Command("config", "print a preset's config as JSON") { _preset, _configFile, _seed };
            _calibrate = new Command("calibrate", "calibrate exp r = 1, 0.7, 0.4, 0.1 thresholds on the package's samples and list them in its model.json") { _package, _forbidFirstExit };
            _build.SetAction(Build);
            _config.SetAction(p => Print(ReferenceModelJson.Serialize(ResolveConfig(p))));
            _calibrate.SetAction(p => Calibrate(p.GetValue(_package)!, p.GetValue(_forbidFirstExit)));
            var presets = new Command("presets", "list preset names");
            presets.SetAction(_ => Print(string.Join(Environment.NewLine, ReferenceModelPresets.Names)));
            Root = new RootCommand("A1Fleet.ModelBuilder: reference model packages (docs/reference-models.md). Exit codes: 0 done, 1 failed, 2 bad command line.")
            {
                _build, presets, _config, _calibrate,
            };
        }

        public RootCommand Root { get; }

        private static T Error<T>(System.CommandLine.Parsing.ArgumentResult result, string message, T fallback)
        {
            result.AddError(message);
            return fallback;
        }

        /// <summary>What the parser cannot see: exactly one of --preset and --config, a known preset, files that exist.</summary>
        public IEnumerable<string> Checks(ParseResult parsed)
        {
            var command = parsed.CommandResult.Command;
            // Help asks for nothing to be done, so the options a run needs may be missing (reading a missing required one throws).
            if (parsed.Errors.Count > 0 || parsed.Action is HelpAction)
            {
                yield break;
            }

            if (command == _build || command == _config)
            {
                var preset = parsed.GetValue(_preset);
                var file = parsed.GetValue(_configFile);
                if ((preset is null) == (file is null))
                {
                    yield return "give exactly one of --preset and --config";
                }
                else if (preset is not null && !ReferenceModelPresets.Names.Contains(preset))
                {
                    yield return $"--preset {preset}: unknown; known: {string.Join(", ", ReferenceModelPresets.Names)}";
                }
                else if (file is not null && !File.Exists(file))
                {
                    yield return $"--config {file}: the file does not exist";
                }
            }
            else if (command == _calibrate && parsed.GetValue(_package) is { } package && !File.Exists(Path.Combine(package, ModelPackage.ManifestFileName)))
            {
                yield return $"--package {package}: no {ModelPackage.ManifestFileName} there";
            }
        }

        private int Build(ParseResult parsed)
        {
            var config = ResolveConfig(parsed);
            var directory = Path.GetFullPath(parsed.GetValue(_out)!);
            if (ReplaceProblem(directory) is { } problem)
            {
                throw new IOException($"--out {directory}: {problem}");
            }

            var staging = $"{directory}.staging-{Environment.ProcessId}";
            DeleteIfPresent(staging);
            try
            {
                var building = Stopwatch.StartNew();
                var result = ReferenceModelBuilder.Build(config, staging, _cancellationToken);
                building.Stop();
                var calibrating = new Stopwatch();
                var shipped = parsed.GetValue(_thresholds) == "shipped";
                if (shipped)
                {
                    calibrating.Start();
                    ReferencePackages.CalibrateShippedThresholds(staging, cancellationToken: _cancellationToken);
                    calibrating.Stop();
                }

                _cancellationToken.ThrowIfCancellationRequested();
                DeleteIfPresent(directory);
                Directory.Move(staging, directory);
                BuildReport.Write(_output, config, result with { Directory = directory }, building.Elapsed);
                if (shipped)
                {
                    _output.WriteLine($"thresholds: exp r = {string.Join(", ", ReferencePackages.ShippedRs.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture)))} " +
                                     $"calibrated on the calibration episodes in {calibrating.Elapsed.TotalSeconds:F1} s (thresholds/*.json)");
                }
            }
            finally
            {
                DeleteIfPresent(staging);
            }

            return Ok;
        }

        /// <summary>Null when a finished build may take <paramref name="directory"/>'s place: missing, empty, or an earlier package.</summary>
        private static string? ReplaceProblem(string directory) =>
            !Directory.Exists(directory) || !Directory.EnumerateFileSystemEntries(directory).Any() || File.Exists(Path.Combine(directory, ModelPackage.ManifestFileName))
                ? null
                : $"the directory holds files and no {ModelPackage.ManifestFileName}; a build replaces --out, so name a new or empty directory or an earlier package";

        private static void DeleteIfPresent(string directory)
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }

        private int Calibrate(string directory, bool forbidFirstExit)
        {
            ReferencePackages.CalibrateShippedThresholds(directory, forbidFirstExit, _cancellationToken);
            foreach (var set in ModelPackage.Open(directory).Manifest.ThresholdSets)
            {
                _output.WriteLine(set);
            }

            return Ok;
        }

        private ReferenceModelConfig ResolveConfig(ParseResult parsed)
        {
            var preset = parsed.GetValue(_preset);
            var config = preset is not null ? ReferenceModelPresets.Get(preset) : ReferenceModelJson.LoadConfig(parsed.GetValue(_configFile)!);
            if (parsed.GetValue(_seed) is { } seed)
            {
                config = config with { Seed = seed };
            }

            config.Validate();
            return config;
        }

        private int Print(string text)
        {
            _output.WriteLine(text);
            return Ok;
        }
    }
}
