using A1Fleet.Calibration;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.CalibrationJobs.Reporting;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;
using A1Fleet.Datasets.Reading;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>
/// calibrate: dataset -> values matrix -> threshold sets -> held-out evaluation, in one process; with
/// --cluster the same sweep runs as a cluster job (<see cref="ClusterCalibrateCommand"/>).
/// </summary>
internal static class CalibrateCommand
{
    public static async Task<int> RunAsync(CalibrateOptions options, TextWriter output, TextWriter error, TimeProvider time, bool progressBars, CancellationToken cancellationToken)
    {
        if (options.Cluster is not null)
        {
            return await new ClusterCalibrateCommand(options, output, error, time, progressBars).RunAsync(cancellationToken);
        }

        try
        {
            return await CalibrateAsync(options, output, error, progressBars, cancellationToken);
        }
        catch (Exception ex) when (ex is ModelPackageException or DatasetFormatException or MappingException or BadDataException or InvalidDataException or ArgumentException)
        {
            await error.WriteLineAsync($"calibrate failed: {ex.Message}");
            return ExitCodes.Failed;
        }
    }

    private static async Task<int> CalibrateAsync(CalibrateOptions options, TextWriter output, TextWriter error, bool progressBars, CancellationToken ct)
    {
        using var engine = A1Engine.Load(options.ModelDirectory, new EngineOptions
        {
            MaxBatchSize = options.BatchSize,
            IntraOpThreads = options.Threads,
            ExecutionProvider = options.Provider,
        });
        var manifest = engine.Manifest;
        var dataset = LeRobotDataset.Open(options.DatasetDirectory);
        var mapping = options.MappingFile is null ? DatasetMapping.Default(manifest, dataset.Info) : DatasetMapping.Load(options.MappingFile);
        await output.WriteLineAsync($"model {manifest.ModelId}@{manifest.ModelVersion}: {engine.Layers} LM layers, exits at layers {string.Join(", ", engine.ExitLayers)} (0-based)");
        await output.WriteLineAsync($"dataset {dataset.Directory}: {dataset.Episodes.Count} episodes, {dataset.TotalFrames} frames at {dataset.Info.Fps} fps; " +
            $"mapping {(options.MappingFile ?? "default")}: {string.Join(", ", mapping.Cameras.Select(c => $"{c.Key}<-{c.Value}"))}, state<-{mapping.StateKey}");

        var reader = new LeRobotDatasetReader(dataset, manifest, mapping, new DatasetReadOptions { BadData = options.BadData, FfmpegExecutable = options.Ffmpeg });
        var read = await reader.ReadAllAsync(ct);
        await output.WriteLineAsync(read.Summary.Describe());
        if (read.Samples.Count == 0)
        {
            await error.WriteLineAsync("calibrate failed: no usable samples");
            return ExitCodes.Failed;
        }

        var split = HoldoutSplit.ByEpisode(read.Samples, options.HoldoutShare);
        var settings = new CalibrationSettings
        {
            Families = options.Families,
            Rs = options.Rs,
            Metric = options.Metric,
            Decode = options.Decode,
            HoldoutShare = options.HoldoutShare,
            BatchSize = options.BatchSize,
            Seed = options.Seed,
            ForbidFirstExit = options.ForbidFirstExit,
            Source = $"LeRobot dataset {Path.GetFileName(dataset.Directory)}: episodes {Ranges(split.CalibrationEpisodes)} " +
                $"({split.Calibration.Count} samples; held out {Ranges(split.HeldOutEpisodes)}), seed {options.Seed}",
        };
        var run = new CalibrationRun(settings);
        await output.WriteLineAsync($"calibrating on {split.Calibration.Count} samples (episodes {Ranges(split.CalibrationEpisodes)}), " +
            $"holding out {split.HeldOut.Count} (episodes {Ranges(split.HeldOutEpisodes)}); metric {run.MetricName(manifest)}, decode {DecodeName(options, run.DecodeFor(manifest))}");

        var progress = new ProgressBar(error, progressBars);
        var outcome = run.Run(engine, read.Samples, progress, ct);
        progress.Finish();

        Directory.CreateDirectory(options.OutDirectory);
        var files = new List<string>();
        foreach (var set in outcome.Sets)
        {
            var path = Path.Combine(options.OutDirectory, set.Name + ".json");
            set.Save(path);
            files.Add(path);
        }

        // What the process's pool got (the first engine loaded sizes it; 0 follows a container's CPU limit), not what was asked.
        var executionProvider = $"{options.Provider}, {(A1Engine.IntraOpThreads == 0 ? "all cores" : $"{A1Engine.IntraOpThreads} threads")}";
        CalibrationTables.Write(output, outcome, engine.ExitLayers, options.BatchSize, executionProvider);
        var report = CalibrationReportFile.Write(Path.Combine(options.OutDirectory, "calibration-report.json"), outcome, read.Summary, options.DatasetDirectory, options.ModelDirectory, executionProvider, options.BatchSize);
        await output.WriteLineAsync($"wrote {files.Count} threshold sets and {Path.GetFileName(report)} to {Path.GetFullPath(options.OutDirectory)}");
        return ExitCodes.Success;
    }

    private static string DecodeName(CalibrateOptions options, DecodeSettings decode) =>
        options.DecodeName ?? $"model default ({(decode.WarmStart ? "warm" : "cold")}, K={decode.DenoisingSteps})";

    /// <summary>"0-5, 8" style episode lists.</summary>
    internal static string Ranges(IReadOnlyList<int> sorted)
    {
        if (sorted.Count == 0)
        {
            return "none";
        }

        var parts = new List<string>();
        var start = sorted[0];
        for (var i = 1; i <= sorted.Count; i++)
        {
            if (i == sorted.Count || sorted[i] != sorted[i - 1] + 1)
            {
                parts.Add(start == sorted[i - 1] ? $"{start}" : $"{start}-{sorted[i - 1]}");
                if (i < sorted.Count)
                {
                    start = sorted[i];
                }
            }
        }

        return string.Join(", ", parts);
    }
}
