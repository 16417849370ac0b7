using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Building;

/// <summary>One file a build wrote, relative to the package directory.</summary>
public sealed record WrittenFile(string Name, long Bytes);

/// <summary>What <see cref="ReferenceModelBuilder.Build"/> wrote.</summary>
public sealed record BuildResult(
    string Directory,
    ModelManifest Manifest,
    IReadOnlyList<WrittenFile> Files,
    IReadOnlyList<KeyValuePair<string, long>> ParametersByPart,
    long TotalParameters,
    int SampleCount)
{
    public long TotalBytes => Files.Sum(f => f.Bytes);
}
