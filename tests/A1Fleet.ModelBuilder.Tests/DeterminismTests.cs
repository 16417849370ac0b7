using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Tests.Support;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class DeterminismTests
{
    [Theory]
    [InlineData(ReferenceModelPresets.TinyFm)]
    [InlineData(ReferenceModelPresets.TinyMlp)]
    public void Build_SameConfigTwice_EveryFileByteIdentical(string preset)
    {
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        var config = ReferenceModelPresets.Get(preset);
        var written = ReferenceModelBuilder.Build(config, first.Path).Files;
        ReferenceModelBuilder.Build(config, second.Path);

        Assert.Equal(written.Select(f => f.Name).Order(), Directory.GetFiles(second.Path).Select(Path.GetFileName).Order());
        Assert.All(written, file => Assert.Equal(File.ReadAllBytes(first.File(file.Name)), File.ReadAllBytes(second.File(file.Name))));
    }

    [Fact]
    public void Build_DifferentSeed_GraphsSamplesAndManifestDiffer()
    {
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        var config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm);
        ReferenceModelBuilder.Build(config, first.Path);
        ReferenceModelBuilder.Build(config with { Seed = config.Seed + 1 }, second.Path);

        string[] files = [PackageFiles.Prefix, PackageFiles.LmLayer(0), PackageFiles.ExpertLayer(5), PackageFiles.ExpertOut, PackageFiles.Samples, PackageFiles.Manifest];
        Assert.All(files, name => Assert.NotEqual(File.ReadAllBytes(first.File(name)), File.ReadAllBytes(second.File(name))));
    }
}
