using System.CommandLine;
using A1Fleet.Operator.Client;

namespace A1Fleet.Silo.Tests.Operator;

/// <summary>The one definition of a calibration's flags: what a command line puts in the job request, and the checks across flags.</summary>
public sealed class CalibrationJobOptionsTests
{
    [Fact]
    public void Request_EveryFlag_GoesIntoTheJobRequest()
    {
        var (options, parsed) = Parse("--family gauss,exp --r 1.0,0.4 --metric L2 --decode exit-cold-k2 --bad-data skip --holdout-share 0.2 --batch 8 --shards 3 --make-live gauss-r0.4-l2 --job-id j-1");

        var request = options.Request(parsed, "tiny-fm", "/data/x", "j-1");

        Assert.Empty(CheckedCommand.Problems(parsed));
        Assert.Equal("gauss,exp", string.Join(',', request.Families!));
        Assert.Equal("1,0.4", Joined(request.Rs!));
        Assert.Equal("l2", request.Metric);
        Assert.Equal("exit-cold-k2", request.Decode);
        Assert.True(request.SkipBadData);
        Assert.Equal(0.2, request.HoldoutShare);
        Assert.Equal(8, request.BatchSize);
        Assert.Equal(3, request.Shards);
        Assert.Equal("gauss-r0.4-l2", request.MakeLive);
        Assert.Equal("j-1", request.JobId);
    }

    [Fact]
    public void Request_NoFlags_SendsTheJobsDefaults()
    {
        var (options, parsed) = Parse("");

        var request = options.Request(parsed, "tiny-fm", "/data/x", null);

        Assert.Equal("exp", Assert.Single(request.Families!));
        Assert.Equal("1,0.7,0.4,0.1", Joined(request.Rs!));
        Assert.False(request.SkipBadData);
        Assert.Equal(0.25, request.HoldoutShare);
        Assert.Equal(16, request.BatchSize);
        Assert.Null(request.Shards);
        Assert.Null(request.Metric);
        Assert.Null(request.Decode);
    }

    [Fact]
    public void Request_NoFlags_IsTheSameJobAsAnHttpBodyWithNoFields()
    {
        // One set of defaults: a1ctl with no flags and a POST /api/calibrations body with only the model and
        // dataset must describe the same job (bad data included: both fail on it).
        var (options, parsed) = Parse("");

        var fromFlags = options.Request(parsed, "tiny-fm", "/data/x", null).ToSpec();
        var fromBody = new StartCalibrationRequest("tiny-fm", "/data/x").ToSpec();

        Assert.Equal(fromBody with { Families = [], Rs = [] }, fromFlags with { Families = [], Rs = [] });
        Assert.Equal(fromBody.Families, fromFlags.Families);
        Assert.Equal(fromBody.Rs, fromFlags.Rs);
        Assert.False(fromBody.SkipBadData);
    }

    [Theory]
    [InlineData("--r 0", "--r: the exp and gamma families need every r > 0")]
    [InlineData("--families gauss --r 0 --make-live exp-r0.0-cosine", "--make-live exp-r0.0-cosine: not a set this sweep publishes (it publishes gauss-r0.0-METRIC")]
    [InlineData("--batch 257", "--batch 257: must be an integer in 1..256")]
    [InlineData("--holdout-share NaN", "--holdout-share NaN: must be a number in [0, 1)")]
    [InlineData("--decode full-k10", "--decode full-k10: calibration needs an early-exit decoding")]
    [InlineData("--metric manhattan", "--metric manhattan: unknown metric")]
    public void Problems_BadFlagOrCombination_NamesIt(string commandLine, string problem)
    {
        var (_, parsed) = Parse(commandLine);

        Assert.Contains(CheckedCommand.Problems(parsed), p => p.StartsWith(problem, StringComparison.Ordinal));
    }

    private static string Joined(double[] values) => string.Join(',', values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static (CalibrationJobOptions Options, ParseResult Parsed) Parse(string commandLine)
    {
        var options = new CalibrationJobOptions();
        var command = new CheckedCommand("calibrate");
        options.AddTo(command, [.. options.Sweep, .. options.ClusterOnly]);
        var root = new RootCommand { command };
        return (options, root.Parse(commandLine.Length == 0 ? ["calibrate"] : ["calibrate", .. commandLine.Split(' ')]));
    }
}
