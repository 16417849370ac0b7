using System.Text.Json;
using A1Fleet.ModelBuilder.Cli;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Tests.Support;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class CliTests
{
    [Fact]
    public void Run_BuildPresetWithSeed_WritesPackageAndReportsN()
    {
        using var directory = new TempDirectory();
        var (code, output, _) = Run("build", "--preset", "tiny-mlp", "--out", directory.Path, "--seed", "5");
        Assert.Equal(0, code);
        Assert.Contains("N = 37", output, StringComparison.Ordinal);
        Assert.Contains("mlp_head", output, StringComparison.Ordinal);
        Assert.Contains(PackageFiles.LmLayer(5), output, StringComparison.Ordinal);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(directory.File(PackageFiles.Manifest)), ReferenceModelJson.Options);
        Assert.Equal("seed-5", manifest?.ModelVersion);
    }

    [Fact]
    public void Run_BuildWithoutThresholdsOption_ManifestListsNoSets()
    {
        using var directory = new TempDirectory();

        var (code, _, _) = Run("build", "--preset", "tiny-mlp", "--out", directory.Path);

        Assert.Equal(0, code);
        Assert.Empty(JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(directory.File(PackageFiles.Manifest)), ReferenceModelJson.Options)!.ThresholdSets);
    }

    [Fact]
    public void Run_BuildFromPrintedConfigFile_BuildsThatConfig()
    {
        using var directory = new TempDirectory();
        var (_, json, _) = Run("config", "--preset", "tiny-fm");
        File.WriteAllText(directory.File("custom.json"), json.Replace("\"name\": \"tiny-fm\"", "\"name\": \"custom-fm\"", StringComparison.Ordinal));
        string output = directory.File("package");

        var (code, _, _) = Run("build", "--config", directory.File("custom.json"), "--out", output);
        Assert.Equal(0, code);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(Path.Combine(output, PackageFiles.Manifest)), ReferenceModelJson.Options);
        Assert.Equal("custom-fm", manifest?.ModelId);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Run_CalibratePackageWithoutThresholds_AddsTheShippedSets(bool forbidFirstExit)
    {
        using var directory = new TempDirectory();
        Assert.Equal(0, Run("build", "--preset", "tiny-mlp", "--out", directory.Path).Code);
        // In its own process: calibration runs the engine, which needs ONNX Runtime's environment with
        // global thread pools, and this test process has already made the default one.
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "A1Fleet.ModelBuilder.dll"), "calibrate", "--package", directory.Path }
                     .Concat(forbidFirstExit ? ["--forbid-first-exit"] : []))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await error);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(directory.File(PackageFiles.Manifest)), ReferenceModelJson.Options)!;
        Assert.Equal(4, manifest.ThresholdSets.Count);
        Assert.All(manifest.ThresholdSets, set => Assert.True(File.Exists(Path.Combine(directory.Path, set)), set));
        Assert.Contains("exp-r0.4", output, StringComparison.Ordinal);
        var sets = manifest.ThresholdSets.Select(set => A1Fleet.EarlyExit.ThresholdSet.Load(Path.Combine(directory.Path, set))).ToList();
        Assert.All(sets, set => Assert.Equal(forbidFirstExit, set.ForbidFirstExit));
        // r = 0.1 sends most calibration samples to the first exit unless it is forbidden.
        var r01 = sets.Single(set => set.R == 0.1);
        Assert.Equal(forbidFirstExit, double.IsNegativeInfinity(r01.Thresholds[0]));
        Assert.Equal(forbidFirstExit, r01.ExpectedExitShares[0] == 0);
    }

    [Theory]
    [InlineData("calibrate", "--package", "/nonexistent/a1fleet-package")]
    [InlineData("build", "--preset", "tiny-fm")]
    [InlineData("build", "--preset", "tiny-fm", "--config", "x.json", "--out", "y")]
    [InlineData("build", "--preset", "nope", "--out", "y")]
    [InlineData("build", "--presett", "tiny-fm", "--out", "y")]
    [InlineData("build", "--preset", "tiny-fm", "--out", "y", "--thresholds", "all")]
    [InlineData("build", "--preset", "tiny-fm", "--out", "y", "--seed", "-1")]
    [InlineData("explode")]
    [InlineData()]
    public void Run_BadArguments_ExitCodeTwoWithMessage(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(BuilderCli.Usage, code);
        Assert.NotEmpty(error.Trim());
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("build --presett tiny-fm --out y", "'--presett'")]
    [InlineData("build --preset nope --out y", "--preset nope: unknown; known: tiny-fm")]
    [InlineData("build --preset tiny-fm --out y --thresholds all", "--thresholds all: use none or shipped")]
    [InlineData("build --preset tiny-fm --out y --seed x", "--seed x: must be a non-negative whole number")]
    [InlineData("build --preset tiny-fm", "'--out' is required")]
    [InlineData("build --preset tiny-fm --config x.json --out y", "give exactly one of --preset and --config")]
    [InlineData("calibrate --package /nonexistent/a1fleet-package", "--package /nonexistent/a1fleet-package: no model.json there")]
    public void Run_BadOptionOrValue_MessageNamesIt(string commandLine, string message)
    {
        var (code, output, error) = Run(commandLine.Split(' '));

        Assert.Equal(BuilderCli.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void Run_Help_ListsTheCommandsAndExitCodes()
    {
        var (code, output, _) = Run("--help");

        Assert.Equal(BuilderCli.Ok, code);
        foreach (var command in new[] { "build", "presets", "config", "calibrate" })
        {
            Assert.Matches($@"\n  {command}\s", output);
        }

        Assert.Contains("Exit codes: 0 done, 1 failed, 2 bad command line", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("build", "--preset")]
    [InlineData("config", "--preset")]
    [InlineData("calibrate", "--package")]
    public void Run_CommandHelp_PrintsItsOptionsWithoutAskingForThem(string command, string option)
    {
        var (code, output, error) = Run(command, "--help");

        Assert.Equal(BuilderCli.Ok, code);
        Assert.Contains(option, output, StringComparison.Ordinal);
        Assert.Empty(error);
    }

    [Fact]
    public void Run_ConfigThatDoesNotValidate_ExitsOneWithoutAStackTrace()
    {
        using var directory = new TempDirectory();
        var (_, json, _) = Run("config", "--preset", "tiny-fm");
        File.WriteAllText(directory.File("broken.json"), "{ \"name\": ");

        var (code, _, error) = Run("build", "--config", directory.File("broken.json"), "--out", directory.File("package"));

        Assert.NotEmpty(json);
        Assert.Equal(BuilderCli.Failed, code);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_Presets_ListsAllNames()
    {
        var (code, output, _) = Run("presets");
        Assert.Equal(0, code);
        Assert.Equal(ReferenceModelPresets.Names, output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public void Run_BuildCancelled_ExitsCancelledAndLeavesNoPackageOrStaging()
    {
        using var directory = new TempDirectory();
        var target = directory.File("package");
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        var (code, _, error) = Run(cancelled.Token, "build", "--preset", "tiny-fm", "--out", target);

        Assert.Equal(BuilderCli.Cancelled, code);
        Assert.Contains("cancelled", error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory.Path));
    }

    [Fact]
    public void Run_BuildCancelledOverAnEarlierPackage_KeepsThatPackage()
    {
        using var directory = new TempDirectory();
        Assert.Equal(0, Run("build", "--preset", "tiny-mlp", "--out", directory.Path, "--seed", "5").Code);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        var (code, _, _) = Run(cancelled.Token, "build", "--preset", "tiny-mlp", "--out", directory.Path, "--seed", "6");

        Assert.Equal(BuilderCli.Cancelled, code);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(directory.File(PackageFiles.Manifest)), ReferenceModelJson.Options);
        Assert.Equal("seed-5", manifest?.ModelVersion);
        Assert.Empty(Directory.EnumerateDirectories(Path.GetDirectoryName(directory.Path)!, Path.GetFileName(directory.Path) + ".staging-*"));
    }

    [Fact]
    public void Run_BuildOverAnEarlierPackage_ReplacesIt()
    {
        using var directory = new TempDirectory();
        Assert.Equal(0, Run("build", "--preset", "tiny-mlp", "--out", directory.Path, "--seed", "5").Code);

        var (code, _, _) = Run("build", "--preset", "tiny-mlp", "--out", directory.Path, "--seed", "6");

        Assert.Equal(0, code);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(directory.File(PackageFiles.Manifest)), ReferenceModelJson.Options);
        Assert.Equal("seed-6", manifest?.ModelVersion);
    }

    [Fact]
    public void Run_BuildIntoADirectoryWithOtherFiles_IsRefusedAndTouchesNothing()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("notes.txt"), "mine");

        var (code, _, error) = Run("build", "--preset", "tiny-mlp", "--out", directory.Path);

        Assert.Equal(BuilderCli.Failed, code);
        Assert.Contains("--out", error, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(directory.Path).Select(Path.GetFileName));
    }

    private static (int Code, string Output, string Error) Run(params string[] args) => Run(CancellationToken.None, args);

    private static (int Code, string Output, string Error) Run(CancellationToken cancellationToken, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = BuilderCli.Run(args, output, error, cancellationToken);
        return (code, output.ToString(), error.ToString());
    }
}
