using System.CommandLine;
using System.Globalization;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.Conversion;
using A1Fleet.ModelFormat;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>convert-samples: a model package's samples.json to a LeRobot dataset.</summary>
internal static class ConvertSamplesCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = new Option<string>("--model") { Description = "the model package whose samples.json is converted", HelpName = "DIR", Required = true };
        var outDirectory = new Option<string>("--out") { Description = "the LeRobot dataset to write", HelpName = "DIR", Required = true };
        var fps = CalibrationJobOptions.Parsed("--fps", "frames per second the dataset declares", "FPS", SamplesToLeRobot.DefaultFps,
            text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? (v, null) : (0, "must be a positive number"));
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a dataset already at --out" };
        var command = new CheckedCommand("convert-samples", "a model package's samples.json to a LeRobot v2.0 dataset (PNG images)") { model, outDirectory, fps, overwrite };
        command.Checks.Add(parsed => parsed.GetValue(model) is { } directory && !File.Exists(Path.Combine(directory, ModelPackage.ManifestFileName))
            ? [$"--model {directory}: no {ModelPackage.ManifestFileName} there"]
            : []);
        command.SetAction((parsed, ct) => RunAsync(parsed.GetValue(model)!, parsed.GetValue(outDirectory)!, parsed.GetValue(fps), parsed.GetValue(overwrite), output, error, ct));
        return command;
    }

    private static async Task<int> RunAsync(string model, string outDirectory, double fps, bool overwrite, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            var package = ModelPackage.Open(model);
            var result = await SamplesToLeRobot.ConvertPackageAsync(package, outDirectory, fps, overwrite, cancellationToken);
            await output.WriteLineAsync($"wrote {result.Episodes} episodes, {result.Frames} frames of '{package.Manifest.ModelId}' samples to {result.Directory} " +
                $"(LeRobot v2.0, {fps} fps, PNG images{(result.WithAction ? ", per-frame action" : ", no action")})");
            return ExitCodes.Success;
        }
        catch (Exception ex) when (ex is ModelPackageException or IOException or ArgumentException)
        {
            await error.WriteLineAsync($"convert-samples failed: {ex.Message}");
            return ExitCodes.Failed;
        }
    }
}
