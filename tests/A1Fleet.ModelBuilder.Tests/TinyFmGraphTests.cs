using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Tests.Support;

namespace A1Fleet.ModelBuilder.Tests;

/// <summary>Every graph of tiny-fm, run on ONNX Runtime, equals the oracle.</summary>
public sealed class TinyFmGraphTests
{
    private readonly BuiltPackage package = TinyPackages.Fm;

    [Fact]
    public void Prefix_RandomInputs_MatchesOracle() =>
        GraphChecks.Prefix(package.File(PackageFiles.Prefix), package.Oracle, new RandomInputs(package.Config));

    [Fact]
    public void LmLayers_RandomInputsWithPadding_AllLayersMatchOracle()
    {
        var inputs = new RandomInputs(package.Config);
        for (int layer = 0; layer < package.Config.LmLayers; layer++)
        {
            GraphChecks.LmLayer(package.File(PackageFiles.LmLayer(layer)), package.Oracle, layer, inputs);
        }
    }

    [Fact]
    public void ExpertSuffix_RandomInputs_MatchesOracle() =>
        GraphChecks.ExpertSuffix(package.File(PackageFiles.ExpertSuffix), package.Oracle, new RandomInputs(package.Config));

    [Fact]
    public void ExpertLayers_RandomInputsWithPadding_AllLayersMatchOracle()
    {
        var inputs = new RandomInputs(package.Config);
        for (int layer = 0; layer < package.Config.LmLayers; layer++)
        {
            GraphChecks.ExpertLayer(package.File(PackageFiles.ExpertLayer(layer)), package.Oracle, layer, inputs);
        }
    }

    [Fact]
    public void ExpertOut_RandomInputs_MatchesOracle() =>
        GraphChecks.ExpertOut(package.File(PackageFiles.ExpertOut), package.Oracle, new RandomInputs(package.Config));
}
