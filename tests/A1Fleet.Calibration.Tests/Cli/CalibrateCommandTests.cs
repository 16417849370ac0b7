using System.Text.RegularExpressions;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.Datasets.Parquet;
using A1Fleet.EarlyExit;

namespace A1Fleet.Calibration.Tests.Cli;

[Collection(ReferenceModelsCollection.Name)]
public sealed class CalibrateCommandTests(ReferenceModelsFixture models)
{
    [Fact]
    public async Task Calibrate_TinyFmOnShippedDataset_PrintsBothTablesAndWritesLoadableSets()
    {
        var outDirectory = models.NewDirectory("cli-out");

        var (code, output, error) = await RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", TestDatasets.ShippedTinyFm,
            "--families", "exp,gauss", "--r", "1.0,0.4", "--out", outDirectory, "--batch", "8", "--threads", "1");

        Assert.True(code == 0, error);
        Assert.Contains("48 samples used from 8 of 8 episodes, 0 skipped", output, StringComparison.Ordinal);
        Assert.Matches(@"calibration pass: 36 samples in [\d.]+ s = [\d.]+ samples/s", output);
        Assert.Contains("threshold sets, expected on the 36 calibration samples", output, StringComparison.Ordinal);
        Assert.Contains("held-out evaluation: the engine run with each set on 12 samples of episodes 6, 7", output, StringComparison.Ordinal);
        Assert.Contains("36/36 samples", error, StringComparison.Ordinal);
        foreach (var name in new[] { "exp-r1.0-cosine", "exp-r0.4-cosine", "gauss-r1.0-cosine", "gauss-r0.4-cosine" })
        {
            var set = ThresholdSet.Load(Path.Combine(outDirectory, name + ".json"));
            Assert.Equal("tiny-fm", set.ModelId);
            Assert.Equal(36, set.SampleCount);
            // Expected table row, then the held-out row with measured and expected reductions and one share per exit.
            var rows = output.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, rows.Count);
            Assert.Matches(new Regex(@"^\S+\s+[\d.]+%\s+[\d.]+%\s+[\d.]+%\s+\|(\s+[\d.]+%){3}\s*$"), rows[1]);
        }

        Assert.True(File.Exists(Path.Combine(outDirectory, "calibration-report.json")));
    }

    [Fact]
    public async Task Calibrate_ManyBadOptions_ListsEveryProblemAndExitsTwo()
    {
        var (code, _, error) = await RunAsync("calibrate", "--dataset", "/nonexistent", "--r", "1.0,abc", "--families", "exp,poisson",
            "--holdout-share", "1.5", "--batch", "0", "--decode", "full-k10", "--bad-data", "ignore", "--colour", "red");

        Assert.Equal(2, code);
        foreach (var expected in new[]
        {
            "Option '--model' is required", "--dataset /nonexistent: no meta/info.json", "--r 1.0,abc: 'abc' is not a number", "unknown family 'poisson'",
            "--holdout-share 1.5", "--batch 0", "--decode full-k10: calibration needs an early-exit decoding", "--bad-data ignore: use fail or skip", "Unrecognized command or argument '--colour'",
        })
        {
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }

        // Nine problems, and the unknown option's value, also unexpected.
        Assert.Contains("10 problem(s)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_CorruptImage_FailNamesEpisodeAndFrameWhileSkipCarriesOn()
    {
        var dataset = await TestDatasets.ConvertedTinyFmAsync(models, "cli-corrupt");
        await TestDatasets.RewriteEpisodeAsync(dataset, 2, t => t.Images["observation.images.front"][1] = new EncodedImage([7, 7, 7], null));
        var outDirectory = models.NewDirectory("cli-corrupt-out");

        var failed = await RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", dataset, "--out", outDirectory, "--threads", "1");
        var skipped = await RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", dataset, "--out", outDirectory, "--threads", "1", "--bad-data", "skip");

        Assert.Equal(1, failed.Code);
        Assert.Contains("episode 2, frame 1 (data/chunk-000/episode_000002.parquet)", failed.Error, StringComparison.Ordinal);
        Assert.True(skipped.Code == 0, skipped.Error);
        Assert.Contains("47 samples used from 8 of 8 episodes, 1 skipped", skipped.Output, StringComparison.Ordinal);
        Assert.Contains("calibrating on 35 samples", skipped.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_InvalidMappingFile_ExitsOneListingEveryProblem()
    {
        var mappingPath = Path.Combine(models.NewDirectory("cli-mapping"), "mapping.json");
        await File.WriteAllTextAsync(mappingPath, """{ "cameras": { "wrist": "observation.images.front" }, "stateDims": [0, 1] }""");

        var (code, _, error) = await RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", TestDatasets.ShippedTinyFm, "--mapping", mappingPath,
            "--out", models.NewDirectory("cli-mapping-out"));

        Assert.Equal(1, code);
        Assert.Contains("model camera 'front'", error, StringComparison.Ordinal);
        Assert.Contains("'wrist' is not a camera of model 'tiny-fm'", error, StringComparison.Ordinal);
        Assert.Contains("stateDims selects 2 values but the model's state dim is 6", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_ClusterOnlyOptionsWithoutCluster_ListsEachAndExitsTwo()
    {
        var (code, output, error) = await RunAsync("calibrate", "--model", models.TinyFmDirectory, "--dataset", TestDatasets.ShippedTinyFm,
            "--shards", "3", "--make-live", "exp-r1.0-cosine", "--job-id", "j1", "--no-wait");

        Assert.Equal(2, code);
        Assert.Contains("4 problem(s)", error, StringComparison.Ordinal);
        foreach (var option in new[] { "--shards", "--make-live", "--job-id", "--no-wait" })
        {
            Assert.Contains($"{option} needs --cluster URL", error, StringComparison.Ordinal);
        }

        Assert.Empty(output);
    }

    [Fact]
    public async Task Calibrate_ClusterWithStandAloneOnlyOptions_ListsEachWithoutTouchingTheNetworkAndExitsTwo()
    {
        // Nothing listens on port 1: a usage error must come before any request.
        var (code, _, error) = await RunAsync("calibrate", "--cluster", "http://127.0.0.1:1", "--model", "tiny-fm", "--dataset", "/data/datasets/tiny-fm-sim",
            "--mapping", "/no/such/mapping.json", "--threads", "2", "--provider", "cuda", "--seed", "3", "--forbid-first-exit", "--ffmpeg", "/usr/bin/ffmpeg");

        Assert.Equal(2, code);
        Assert.Contains("6 problem(s)", error, StringComparison.Ordinal);
        foreach (var option in new[] { "--mapping", "--threads", "--provider", "--seed", "--forbid-first-exit", "--ffmpeg" })
        {
            Assert.Contains($"{option} applies to stand-alone runs only", error, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("cannot reach", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calibrate_ClusterBadValues_ListsEveryProblemAndExitsTwo()
    {
        var (code, _, error) = await RunAsync("calibrate", "--cluster", "ftp://silo:8080", "--model", "./models/missing", "--dataset", "/data/x",
            "--r", "1.0,0.4", "--metric", "l2", "--make-live", "exp-r0.7-l2", "--shards", "0", "--job-id", "a job");

        Assert.Equal(2, code);
        foreach (var expected in new[]
        {
            "--cluster ftp://silo:8080: must be an absolute http:// or https:// URL",
            "--model ./models/missing: no such directory; with --cluster give the model id the silos serve",
            "--make-live exp-r0.7-l2: not a set this sweep publishes (it publishes exp-r1.0-l2, exp-r0.4-l2)",
            "--shards 0: must be an integer in 1..1024",
            "--job-id a job: use at most 128 letters, digits",
        })
        {
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }

        Assert.Contains("5 problem(s)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_DescribesBothModesExitCodesAndWhatCtrlCDoes()
    {
        var (code, output, _) = await RunAsync("--help");

        Assert.Equal(0, code);
        Assert.Contains("calibrate --cluster URL", output, StringComparison.Ordinal);
        Assert.Contains("Ctrl-C cancels the cluster job", output, StringComparison.Ordinal);
        Assert.Contains("130 Ctrl-C", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_UnknownVerb_ExitsTwoPointingAtHelp()
    {
        var (code, _, error) = await RunAsync("calibrate-everything");

        Assert.Equal(2, code);
        Assert.Contains("Unrecognized command or argument 'calibrate-everything'", error, StringComparison.Ordinal);
        Assert.Contains("see: A1Fleet.CalibrationJobs --help", error, StringComparison.Ordinal);
    }

    /// <summary>The invocations docs/calibration.md, docs/policy.md and deploy/k8s show, and a1ctl's flag spellings.</summary>
    [Theory]
    [InlineData("calibrate --model artifacts/models/small-fm --dataset artifacts/datasets/small-fm-sim --families exp,gauss --r 1.0,0.4 --out artifacts/calibration --batch 8 --threads 1")]
    [InlineData("calibrate --model m --dataset d --mapping map.json --metric l2 --decode exit-cold-k2 --bad-data skip --holdout-share 0.2 --provider cuda --seed 3 --forbid-first-exit --ffmpeg /usr/bin/ffmpeg")]
    [InlineData("calibrate --cluster http://127.0.0.1:8080 --model tiny-fm --dataset calibration-jobs/datasets/tiny-fm-sim --shards 4 --r 1.0,0.7,0.4,0.1 --make-live exp-r0.7-cosine")]
    [InlineData("calibrate --cluster http://a1fleet-silo:8080 --model tiny-fm --dataset /data/x --family exp --job-id nightly-1 --no-wait --out sets")]
    [InlineData("calibrate --cluster http://a1fleet-silo:8080 --model small-fm --dataset /data/datasets/small-fm-sim --families exp,gauss,gamma --r 1.0,0.7,0.4,0.1 --holdout-share 0.25 --batch 16 --shards 4 --job-id a1fleet-calibrate-1")]
    [InlineData("calibrate --model /work/models/small-fm --dataset /work/datasets/small-fm-sim --families exp,gauss,gamma --r 1.0,0.7,0.4,0.1 --holdout-share 0.25 --batch 16 --provider cpu --out /results/small-fm")]
    [InlineData("convert-samples --model /tmp/tiny-fm --out calibration-jobs/datasets/tiny-fm-sim --overwrite")]
    [InlineData("convert-samples --model m --out o --fps 20")]
    [InlineData("export-training --dataset d --out o")]
    public void Parse_DocumentedInvocation_ParsesWithoutSyntaxProblems(string commandLine)
    {
        var parsed = CliApp.Create(TextWriter.Null, TextWriter.Null, TimeProvider.System, progressBars: false).Parse(commandLine.Split(' '));

        // Only the parser's own errors: whether these paths exist is the checks' business.
        Assert.Empty(parsed.Errors);
        Assert.NotNull(parsed.CommandResult.Command.Action);
    }

    [Fact]
    public async Task Help_OfCalibrate_ListsTheFlagsSharedWithA1ctl()
    {
        var (code, output, _) = await RunAsync("calibrate", "--help");

        Assert.Equal(0, code);
        foreach (var flag in new[] { "--families, --family", "--r", "--metric", "--decode", "--bad-data", "--holdout-share", "--batch", "--shards", "--make-live", "--job-id", "--no-wait", "--cluster", "--threads" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }

    internal static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
