using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests;

/// <summary>Builds the tiny reference models (with shipped thresholds) once per test run into a private temp folder.</summary>
public sealed class ReferenceModelsFixture : IDisposable
{
    public ReferenceModelsFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "a1fleet-engine-tests-" + Guid.NewGuid().ToString("N"));
        TinyFmDirectory = ReferencePackages.Ensure("tiny-fm", Root);
        TinyMlpDirectory = ReferencePackages.Ensure("tiny-mlp", Root);
        TinyFm = A1Engine.Load(TinyFmDirectory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1 });
        TinyMlp = A1Engine.Load(TinyMlpDirectory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1 });
    }

    public string Root { get; }
    public string TinyFmDirectory { get; }
    public string TinyMlpDirectory { get; }
    public A1Engine TinyFm { get; }
    public A1Engine TinyMlp { get; }

    public static IReadOnlyList<ObservationSample> Samples(A1Engine engine) => engine.Package.LoadSamples();

    public void Dispose()
    {
        TinyFm.Dispose();
        TinyMlp.Dispose();
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
    public const string Name = "reference models";
}
