using System.Globalization;
using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;

namespace A1Fleet.ModelBuilder.Cli;

/// <summary>The human-readable summary printed after a build.</summary>
internal static class BuildReport
{
    public static void Write(TextWriter output, ReferenceModelConfig config, BuildResult result, TimeSpan elapsed)
    {
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(inv, $"built {config.Name} (seed {config.Seed}, head {config.HeadKind}) in {result.Directory}"));
        output.WriteLine(string.Create(inv, $"prefix length N = {config.SequenceLength} ({config.ImageTokens} image + 1 state + {config.MaxTokens} instruction + {config.ActionQueries} query tokens)"));
        output.WriteLine(string.Create(inv, $"exit layers: {string.Join(", ", result.Manifest.Exits.Layers)}"));
        output.WriteLine("parameters:");
        foreach (var (part, count) in result.ParametersByPart)
        {
            output.WriteLine(string.Create(inv, $"  {part,-14} {count,12:N0}"));
        }

        output.WriteLine(string.Create(inv, $"  {"total",-14} {result.TotalParameters,12:N0}"));
        output.WriteLine(string.Create(inv, $"files ({result.Files.Count}, {result.TotalBytes / 1048576.0:F1} MiB, {result.SampleCount} samples):"));
        foreach (var file in result.Files)
        {
            output.WriteLine(string.Create(inv, $"  {file.Name,-22} {file.Bytes,12:N0} bytes"));
        }

        output.WriteLine(string.Create(inv, $"elapsed {elapsed.TotalSeconds:F2} s"));
    }
}
