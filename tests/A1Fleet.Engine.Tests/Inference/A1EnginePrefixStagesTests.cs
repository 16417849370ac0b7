using System.Text.Json.Nodes;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Building;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// A package whose prefix is split at its vision blocks (<see cref="ModelFiles.PrefixStages"/>) runs it as one step per
/// stage, so a batch arriving meanwhile waits for a stage rather than the whole prefix, and answers as the same package
/// running the prefix whole does.
/// </summary>
public sealed class A1EnginePrefixStagesTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "a1fleet-prefix-stages-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Theory]
    [InlineData(ReferenceModelPresets.TinyFm)]
    [InlineData(ReferenceModelPresets.TinyMlp)]
    public void Run_PrefixInStages_AnswersAsTheWholePrefixDoes(string preset)
    {
        var (staged, whole) = Packages(preset);
        using var stagedEngine = A1Engine.Load(staged, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        using var wholeEngine = A1Engine.Load(whole, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        Assert.Equal(2, stagedEngine.PrefixSteps);
        Assert.Equal(1, wholeEngine.PrefixSteps);
        var samples = stagedEngine.Package.LoadSamples();
        var requests = Enumerable.Range(0, 3).Select(i => Requests.From(samples[i], DecodeSettings.FullDepthK10 with { DenoisingSteps = 2 }, seed: (ulong)(i + 1))).ToList();

        var expected = wholeEngine.Run(requests);
        var actual = stagedEngine.Run(requests);

        Answers.AssertClose(expected, actual, "prefix in stages");
    }

    [Fact]
    public void Step_PrefixInStages_OneStepPerStageBeforeLayerZero()
    {
        var (staged, _) = Packages(ReferenceModelPresets.TinyFm);
        using var engine = A1Engine.Load(staged, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var samples = engine.Package.LoadSamples();
        using var batch = engine.Begin([Requests.From(samples[0], DecodeSettings.FullDepthK10 with { DenoisingSteps = 2 })]);
        var layers = engine.Layers;
        Assert.Equal(2 + layers, batch.RemainingSteps);
        Assert.Equal(2 + 3, batch.StepsUntil(3));

        batch.Step();

        Assert.Equal(-1, batch.NextLayer);
        Assert.Equal(1 + layers, batch.RemainingSteps);
        Assert.Equal(1 + 3, batch.StepsUntil(3));
        batch.Step();
        Assert.Equal(0, batch.NextLayer);
        Assert.Equal(layers, batch.RemainingSteps);
        Assert.Equal(3, batch.StepsUntil(3));
        var steps = 2;
        while (!batch.Step())
        {
            steps++;
        }

        Assert.Equal(2 + layers, steps + 1);
        Assert.True(batch.Results[0].Succeeded, batch.Results[0].Error);
    }

    [Fact]
    public void Load_OneStage_IsRefusedNamingTheField()
    {
        var (staged, _) = Packages(ReferenceModelPresets.TinyFm);
        EditFiles(staged, files => files["prefixStages"] = new JsonArray(files["prefixStages"]![0]!.GetValue<string>()));

        var error = Assert.ThrowsAny<Exception>(() => A1Engine.Load(staged, new EngineOptions { MaxBatchSize = 4 }));

        Assert.Contains("files.prefixStages", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The preset with two vision blocks, as the builder writes it (split prefix), and a copy whose manifest lists no stages.</summary>
    private (string Staged, string Whole) Packages(string preset)
    {
        var staged = Path.Combine(_root, preset + "-staged");
        ReferenceModelBuilder.Build(ReferenceModelPresets.Get(preset) with { VisionLayers = 2 }, staged);
        var manifest = ModelPackage.Open(staged).Manifest;
        Assert.Equal(2, manifest.Files.PrefixStages.Count);

        var whole = Path.Combine(_root, preset + "-whole");
        Directory.CreateDirectory(whole);
        foreach (var file in Directory.GetFiles(staged))
        {
            File.Copy(file, Path.Combine(whole, Path.GetFileName(file)));
        }

        EditFiles(whole, files => files["prefixStages"] = new JsonArray());
        return (staged, whole);
    }

    private static void EditFiles(string package, Action<JsonObject> edit)
    {
        var path = Path.Combine(package, ModelPackage.ManifestFileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json["files"]!.AsObject());
        File.WriteAllText(path, json.ToJsonString());
    }
}
