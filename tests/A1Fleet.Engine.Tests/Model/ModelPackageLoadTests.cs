using System.Text.Json.Nodes;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Model;

[Collection(ReferenceModelsCollection.Name)]
public sealed class ModelPackageLoadTests(ReferenceModelsFixture models) : IDisposable
{
    private readonly string _copy = Path.Combine(models.Root, "copy-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Load_MissingDirectory_NamesIt()
    {
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(Path.Combine(models.Root, "nope")));
        Assert.Contains("nope", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingGraphFile_NamesTheFile()
    {
        Copy();
        File.Delete(Path.Combine(_copy, "lm_layer_02.onnx"));
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("lm_layer_02.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ManifestHiddenSizeDisagreesWithGraphs_NamesFileInputAndShapes()
    {
        Copy();
        EditManifest(m => m["languageModel"]!["hidden"] = 48);
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("prefix.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'hidden'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("48", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_GraphSwappedForAnotherKind_NamesTheMissingInput()
    {
        Copy();
        File.Copy(Path.Combine(_copy, "expert_out.onnx"), Path.Combine(_copy, "lm_layer_01.onnx"), overwrite: true);
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("lm_layer_01.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("input 'hidden' is missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_InconsistentManifest_ListsEveryProblem()
    {
        Copy();
        EditManifest(m =>
        {
            m["exits"]!["layers"] = new JsonArray(3, 1);
            m["action"]!["q01"] = new JsonArray(0f);
            m["headKind"] = "diffusion";
        });
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("ascend", ex.Message, StringComparison.Ordinal);
        Assert.Contains("action.q01", ex.Message, StringComparison.Ordinal);
        Assert.Contains("headKind 'diffusion'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MlpHeadReadingTheBlockOutput_RefusedNamingTheField()
    {
        Copy(models.TinyMlpDirectory);
        EditManifest(m => m["mlpHead"]!["reads"] = "block-output");
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("mlpHead.reads is 'block-output'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MlpHeadWithoutReads_Refused()
    {
        Copy(models.TinyMlpDirectory);
        EditManifest(m => m["mlpHead"]!.AsObject().Remove("reads"));
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("mlpHead.reads", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CorruptGraph_NamesTheFile()
    {
        Copy();
        File.WriteAllBytes(Path.Combine(_copy, "expert_layer_03.onnx"), [1, 2, 3, 4]);
        var ex = Assert.Throws<ModelPackageException>(() => A1Engine.Load(_copy));
        Assert.Contains("expert_layer_03.onnx", ex.Message, StringComparison.Ordinal);
    }

    private void Copy(string? source = null)
    {
        source ??= models.TinyFmDirectory;
        Directory.CreateDirectory(_copy);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(_copy, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private void EditManifest(Action<JsonNode> edit)
    {
        var path = Path.Combine(_copy, ModelPackage.ManifestFileName);
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    public void Dispose()
    {
        if (Directory.Exists(_copy))
        {
            Directory.Delete(_copy, recursive: true);
        }
    }
}
