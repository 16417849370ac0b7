using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Oracle;
using A1Fleet.ModelBuilder.Tests.Support;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Tests;

/// <summary>
/// small-fm at its real sizes (two cameras, N = 145, D = 256): the prefix, one LM layer and one expert
/// layer, written straight from the graph builders to keep the test to the graphs it checks.
/// </summary>
public sealed class SmallFmGraphTests : IDisposable
{
    private readonly TempDirectory directory = new();
    private static readonly ReferenceWeights SmallFm = ReferenceWeights.Generate(ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm));

    [Fact]
    public void Prefix_TwoCameras_MatchesOracle()
    {
        string path = directory.File(PackageFiles.Prefix);
        PrefixGraph.Build(SmallFm).Save(path);
        GraphChecks.Prefix(path, new ReferenceOracle(SmallFm), new RandomInputs(SmallFm.Config));
    }

    [Fact]
    public void PrefixStages_OnePerVisionBlock_ChainedMatchOracle()
    {
        int stages = PrefixGraph.Stages(SmallFm.Config);
        Assert.Equal(SmallFm.Config.VisionLayers, stages);
        var paths = Enumerable.Range(0, stages).Select(k =>
        {
            string path = directory.File(PackageFiles.PrefixStage(k));
            PrefixGraph.BuildStage(SmallFm, k).Save(path);
            return path;
        }).ToList();

        GraphChecks.PrefixStages(paths, new ReferenceOracle(SmallFm), new RandomInputs(SmallFm.Config));
    }

    [Fact]
    public void LmLayer_LastLayerWithPadding_MatchesOracle()
    {
        int layer = SmallFm.Config.LmLayers - 1;
        string path = directory.File(PackageFiles.LmLayer(layer));
        LmLayerGraph.Build(SmallFm, layer).Save(path);
        GraphChecks.LmLayer(path, new ReferenceOracle(SmallFm), layer, new RandomInputs(SmallFm.Config));
    }

    [Fact]
    public void ExpertLayer_FirstLayerWithPadding_MatchesOracle()
    {
        string path = directory.File(PackageFiles.ExpertLayer(0));
        ExpertLayerGraph.Build(SmallFm, 0).Save(path);
        GraphChecks.ExpertLayer(path, new ReferenceOracle(SmallFm), 0, new RandomInputs(SmallFm.Config));
    }

    public void Dispose() => directory.Dispose();
}
