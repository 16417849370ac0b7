using System.Globalization;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.Conversion;
using A1Fleet.ModelFormat;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>convert-samples: a model package's samples.json to a LeRobot dataset.</summary>
internal static class ConvertSamplesCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var a = ParsedArguments.Parse(args, ["model", "out", "fps"], ["overwrite"]);
        var model = a.Required("model");
        var outDirectory = a.Required("out");
        var fps = a.Parsed("fps", SamplesToLeRobot.DefaultFps, text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0
            ? (v, null)
            : (0, "must be a positive number"));
        if (model is not null && !File.Exists(Path.Combine(model, ModelPackage.ManifestFileName)))
        {
            a.Errors.Add($"--model {model}: no {ModelPackage.ManifestFileName} there");
        }

        if (a.Errors.Count > 0)
        {
            return CliApp.UsageErrors(a.Errors, error);
        }

        try
        {
            var package = ModelPackage.Open(model!);
            var result = await SamplesToLeRobot.ConvertPackageAsync(package, outDirectory!, fps, a.Flag("overwrite"), cancellationToken);
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
