using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Tests.Support;

namespace A1Fleet.ModelBuilder.Tests;

/// <summary>Every graph of tiny-mlp, run on ONNX Runtime, equals the oracle.</summary>
public sealed class TinyMlpGraphTests
{
    private readonly BuiltPackage package = TinyPackages.Mlp;

    [Fact]
    public void Prefix_RandomInputsWithQueries_MatchesOracle() =>
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
    public void MlpHead_RandomHidden_MatchesOracle() =>
        GraphChecks.MlpHead(package.File(PackageFiles.MlpHead), package.Oracle, new RandomInputs(package.Config));
}
