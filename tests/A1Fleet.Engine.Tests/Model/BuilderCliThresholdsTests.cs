using System.Text.Json;
using A1Fleet.ModelBuilder.Cli;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Model;

/// <summary>
/// The model builder's <c>build --thresholds shipped</c>. Here rather than in the builder's tests because it runs
/// the engine, which needs the process's ONNX Runtime environment made its way (global thread pools); the
/// builder's tests open plain sessions that would make it first.
/// </summary>
public sealed class BuilderCliThresholdsTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"a1-builder-cli-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void Run_BuildWithShippedThresholds_ManifestListsTheCalibratedSets()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = BuilderCli.Run(["build", "--preset", "tiny-fm", "--out", _directory, "--thresholds", "shipped"], output, error);

        Assert.True(code == 0, error.ToString());
        Assert.Contains("thresholds: exp r = 1.0, 0.7, 0.4, 0.1", output.ToString(), StringComparison.Ordinal);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(Path.Combine(_directory, ModelPackage.ManifestFileName)), ReferenceModelJson.Options)!;
        Assert.Equal(["exp-r1.0-cosine", "exp-r0.7-cosine", "exp-r0.4-cosine", "exp-r0.1-cosine"], manifest.ThresholdSets.Select(Path.GetFileNameWithoutExtension));
        Assert.All(manifest.ThresholdSets, t => Assert.True(File.Exists(Path.Combine(_directory, t)), t));
    }
}
