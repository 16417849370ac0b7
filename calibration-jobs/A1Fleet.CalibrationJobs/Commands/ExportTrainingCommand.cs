using System.CommandLine;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Training;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>export-training: a LeRobot dataset to the numpy training folder (<see cref="TrainingExport"/>).</summary>
internal static class ExportTrainingCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var dataset = new Option<string>("--dataset") { Description = "the LeRobot dataset (image features)", HelpName = "DIR", Required = true };
        var outDirectory = new Option<string>("--out") { Description = "the folder to write", HelpName = "DIR", Required = true };
        var command = new CheckedCommand("export-training", $"a LeRobot dataset to numpy files for a Python trainer: meta.json, state.npy, action.npy, images.npy, episode.npy, " +
                                                     $"frame.npy (format {TrainingExport.Format}, docs/policy.md)") { dataset, outDirectory };
        command.Checks.Add(parsed => parsed.GetValue(dataset) is { } directory && !File.Exists(Path.Combine(directory, LeRobotDataset.InfoFile))
            ? [$"--dataset {directory}: no {LeRobotDataset.InfoFile} there"]
            : []);
        command.SetAction((parsed, ct) => RunAsync(parsed.GetValue(dataset)!, parsed.GetValue(outDirectory)!, output, error, ct));
        return command;
    }

    private static async Task<int> RunAsync(string dataset, string outDirectory, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            var s = await TrainingExport.ExportAsync(dataset, outDirectory, cancellationToken);
            await output.WriteLineAsync($"exported {s.Episodes} episodes, {s.Frames} frames to {s.Directory} ({TrainingExport.Format}: state {s.StateDim}, " +
                $"action {s.ActionDim}, cameras {string.Join(",", s.Cameras)} {s.ImageHeight}x{s.ImageWidth})");
            return ExitCodes.Success;
        }
        catch (Exception ex) when (ex is DatasetFormatException or IOException or InvalidDataException)
        {
            await error.WriteLineAsync($"export-training failed: {ex.Message}");
            return ExitCodes.Failed;
        }
    }
}
