using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using A1Fleet.Deployment.Tests.Docker;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.StartPaths;

/// <summary>
/// Every way to start the fleet serves its model with calibrated threshold sets (issue 12): a package without them runs
/// every request at full depth. Read from the start paths' own files: the demo's defaults, scripts/fleet-local.sh,
/// the silo image (what docker-compose.yml and deploy/k8s serve), and the packages themselves.
/// </summary>
public sealed partial class StartPathModelsTests
{
    [Fact]
    public void Demo_DefaultFrankaModel_IsAShippedTrainedPackageWithThresholdSetsCalibratedForIt()
    {
        var demo = Repo.ReadText("demo/A1Fleet.Demo/FleetDemo.cs");
        var trained = DemoConstant().Matches(demo).Single(m => m.Groups[1].Value == "TrainedModel").Groups[2].Value;
        var package = Repo.PathOf($"models/trained/{trained}");
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(package, "model.json")))!;
        var sets = Directory.GetFiles(Path.Combine(package, "thresholds"), "*.json").Order(StringComparer.Ordinal).ToList();

        Assert.Equal(trained, (string?)manifest["modelId"]);
        Assert.NotEmpty(sets);
        Assert.Contains(sets, s => Path.GetFileNameWithoutExtension(s) == SiloDefaultThresholdSet());
        Assert.All(sets, set =>
        {
            var document = JsonNode.Parse(File.ReadAllText(set))!;
            Assert.Equal((string?)manifest["modelId"], (string?)document["modelId"]);
            Assert.Equal((string?)manifest["modelVersion"], (string?)document["modelVersion"]);
            Assert.Equal(manifest["exits"]!["layers"]!.AsArray().Count, document["thresholds"]!.AsArray().Count);
        });
    }

    [Fact]
    public void Demo_OtherArmsModel_IsAReferencePresetBuiltWithItsThresholdSets()
    {
        var demo = Repo.ReadText("demo/A1Fleet.Demo/FleetDemo.cs");
        var reference = DemoConstant().Matches(demo).Single(m => m.Groups[1].Value == "ReferenceModel").Groups[2].Value;

        Assert.Contains(reference, ModelBuilderPresets());

        // The demo builds presets through ReferencePackages.Ensure, which calibrates the shipped sets into the package.
        var ensure = Repo.ReadText("model-builder/A1Fleet.ModelBuilder/Packaging/ReferencePackages.cs");
        Assert.Matches(@"ReferenceModelBuilder\.Build\(config, staging\);\s*CalibrateShippedThresholds\(staging\);", ensure);
        Assert.Contains("ReferencePackages.Ensure(name, modelsRoot", demo, StringComparison.Ordinal);
    }

    [Fact]
    public void FleetLocalComposeAndKubernetes_ServedModels_AreBuiltWithTheirThresholdSets()
    {
        var script = Repo.ReadText("scripts/fleet-local.sh");
        var localModel = Regex.Match(script, @"model=""\$\{A1FLEET_MODEL:-([a-z0-9-]+)\}""").Groups[1].Value;
        var compose = Regex.Match(Repo.ReadText("docker-compose.yml"), @"A1Fleet__Inference__ModelPackages__0: /models/([a-z0-9-]+)").Groups[1].Value;
        var k8s = Regex.Match(Repo.ReadText("deploy/k8s/base/silo-gpu.yaml"), @"A1Fleet__Inference__ModelPackages__0\s+value: /models/([a-z0-9-]+)").Groups[1].Value;
        var image = Dockerfile.Load("silo/Dockerfile");
        var imagePresets = image.ArgDefaults["MODEL_PRESETS"].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Assert.All(new[] { localModel, compose, k8s }, m => Assert.Contains(m, ModelBuilderPresets()));
        Assert.Contains(compose, imagePresets);
        Assert.Contains(k8s, imagePresets);
        Assert.Contains(image.Stages[0].Body, i => i.Keyword == "RUN" && i.Arguments.Contains("build --preset \"$preset\"", StringComparison.Ordinal) &&
                                                 i.Arguments.Contains("--thresholds shipped", StringComparison.Ordinal));
        Assert.Contains(script.Split('\n'), l => l.Contains("dotnet \"$builder_dll\" build --preset \"$model\"", StringComparison.Ordinal) &&
                                                 l.Contains("--thresholds shipped", StringComparison.Ordinal));
    }

    /// <summary>The threshold set a silo makes live when a model has none published (InferenceServiceOptions).</summary>
    private static string SiloDefaultThresholdSet() =>
        Regex.Match(Repo.ReadText("grains/A1Fleet.Grains/Inference/InferenceServiceOptions.cs"), @"DefaultThresholdSet \{ get; set; \} = ""([^""]+)""").Groups[1].Value;

    private static string[] ModelBuilderPresets() =>
        Regex.Match(Repo.ReadText("model-builder/A1Fleet.ModelBuilder/Config/ReferenceModelPresets.cs"), @"Names \{ get; \} = \[([^\]]+)\]").Groups[1].Value
            .Split(',', StringSplitOptions.TrimEntries)
            .Select(name => Regex.Match(Repo.ReadText("model-builder/A1Fleet.ModelBuilder/Config/ReferenceModelPresets.cs"), $@"const string {name} = ""([^""]+)""").Groups[1].Value)
            .ToArray();

    [GeneratedRegex(@"const string (TrainedModel|ReferenceModel) = ""([^""]+)""")]
    private static partial Regex DemoConstant();
}
