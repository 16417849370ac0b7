using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Training;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>export-training: a LeRobot dataset to the numpy training folder (<see cref="TrainingExport"/>).</summary>
internal static class ExportTrainingCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var a = ParsedArguments.Parse(args, ["dataset", "out"], []);
        var dataset = a.Required("dataset");
        var outDirectory = a.Required("out");
        if (dataset is not null && !File.Exists(Path.Combine(dataset, LeRobotDataset.InfoFile)))
        {
            a.Errors.Add($"--dataset {dataset}: no {LeRobotDataset.InfoFile} there");
        }

        if (a.Errors.Count > 0)
        {
            return CliApp.UsageErrors(a.Errors, error);
        }

        try
        {
            var s = await TrainingExport.ExportAsync(dataset!, outDirectory!, cancellationToken);
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
