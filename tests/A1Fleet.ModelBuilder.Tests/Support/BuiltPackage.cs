using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Oracle;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Tests.Support;

/// <summary>A preset built into a temp directory, with its oracle.</summary>
public sealed class BuiltPackage : IDisposable
{
    private readonly TempDirectory directory = new();

    public BuiltPackage(string preset)
    {
        Config = ReferenceModelPresets.Get(preset);
        Result = ReferenceModelBuilder.Build(Config, directory.Path);
        Oracle = new ReferenceOracle(ReferenceWeights.Generate(Config));
    }

    public ReferenceModelConfig Config { get; }
    public BuildResult Result { get; }
    public ReferenceOracle Oracle { get; }

    public string File(string name) => directory.File(name);

    public void Dispose() => directory.Dispose();
}

/// <summary>The tiny presets, each built once per test run (on first use) and deleted when the run ends.</summary>
public static class TinyPackages
{
    private static readonly Lazy<BuiltPackage> FmPackage = new(() => Track(new BuiltPackage(ReferenceModelPresets.TinyFm)));
    private static readonly Lazy<BuiltPackage> MlpPackage = new(() => Track(new BuiltPackage(ReferenceModelPresets.TinyMlp)));
    private static readonly List<BuiltPackage> Built = [];

    static TinyPackages() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Built.ForEach(p => p.Dispose());

    public static BuiltPackage Fm => FmPackage.Value;
    public static BuiltPackage Mlp => MlpPackage.Value;

    private static BuiltPackage Track(BuiltPackage package)
    {
        lock (Built)
        {
            Built.Add(package);
        }

        return package;
    }
}
