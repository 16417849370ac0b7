using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;

namespace A1Fleet.Calibration.Tests;

/// <summary>Builds tiny-fm (with its shipped thresholds) once per test run into a private temp folder and loads one engine.</summary>
public sealed class ReferenceModelsFixture : IDisposable
{
    public ReferenceModelsFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "a1fleet-calibration-tests-" + Guid.NewGuid().ToString("N"));
        TinyFmDirectory = ReferencePackages.Ensure("tiny-fm", Path.Combine(Root, "models"));
        TinyFm = A1Engine.Load(TinyFmDirectory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1 });
    }

    public string Root { get; }
    public string TinyFmDirectory { get; }
    public A1Engine TinyFm { get; }
    public ModelManifest Manifest => TinyFm.Manifest;
    public IReadOnlyList<ObservationSample> Samples => TinyFm.Package.LoadSamples();

    /// <summary>A fresh folder under the fixture root, removed with it.</summary>
    public string NewDirectory(string name)
    {
        var path = Path.Combine(Root, "work", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        TinyFm.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ReferenceModelsCollection : ICollectionFixture<ReferenceModelsFixture>
{
    public const string Name = "calibration reference models";
}
