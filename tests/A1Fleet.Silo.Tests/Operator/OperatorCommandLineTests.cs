using A1Fleet.Operator;

namespace A1Fleet.Silo.Tests.Operator;

/// <summary>
/// a1ctl's command line in process, no silo: what is refused before anything is sent (exit 2, naming the option,
/// no stack trace), the generated help, every documented invocation still parsing, and the two table forms.
/// </summary>
public sealed class OperatorCommandLineTests
{
    /// <summary>Nothing listens on port 1: a command line refused here must never get as far as a request.</summary>
    private const string Nowhere = "http://127.0.0.1:1";

    [Theory]
    [InlineData("robots --colour red", "'--colour'")]
    [InlineData("estop all --deadline-sec 3", "'--deadline-sec'")]
    [InlineData("calibrate tiny-fm /data/x --familes exp", "'--familes'")]
    [InlineData("lease release arm-1 --too agent-2", "'--too'")]
    public async Task RunAsync_UnknownOption_ExitsTwoNamingIt(string commandLine, string named)
    {
        var (code, output, error) = await Run(commandLine);

        Assert.Equal(OperatorCommands.Usage, code);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot reach", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Theory]
    [InlineData("budget all abc", "budget MS 'abc' is not a number of milliseconds")]
    [InlineData("budget all NaN", "budget NaN ms is invalid")]
    [InlineData("watch --count x", "--count 'x' is not a positive whole number")]
    [InlineData("estop all --deadline-ms soon", "--deadline-ms 'soon' is not a number")]
    [InlineData("assignments delete seven", "assignment id 'seven' is not a number")]
    [InlineData("assign colour:red wave", "selector 'colour:red'")]
    [InlineData("create-key bob superuser", "superuser")]
    [InlineData("audit --since yesterday", "--since 'yesterday' is not a time")]
    [InlineData("compat set arm-1 --robot-budget 50", "--robot-budget '50' must be MIN..MAX")]
    [InlineData("calibrate tiny-fm /data/x --shards 0", "--shards 0: must be an integer in 1..1024")]
    [InlineData("calibrate tiny-fm /data/x --family weibull", "--family weibull: unknown family 'weibull'")]
    [InlineData("calibrate tiny-fm /data/x --r 1.0,0.4 --metric l2 --make-live exp-r0.7-l2", "--make-live exp-r0.7-l2: not a set this sweep publishes")]
    [InlineData("schedule-calibration tiny-fm /data/x", "'--every' is required")]
    public async Task RunAsync_BadValue_ExitsTwoWithAMessageAndNoStackTrace(string commandLine, string message)
    {
        var (code, _, error) = await Run(commandLine);

        Assert.Equal(OperatorCommands.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Contains("see a1ctl", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_NoCommand_ExitsTwo()
    {
        var (code, _, error) = await Run("");

        Assert.Equal(OperatorCommands.Usage, code);
        Assert.Contains("see a1ctl --help", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SiloUnreachable_ExitsOneNamingTheUrlWithoutAStackTrace()
    {
        var (code, _, error) = await Run("robots");

        Assert.Equal(OperatorCommands.Failed, code);
        Assert.Contains($"cannot reach the operator API at {Nowhere}", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("help")]
    public async Task Help_ListsEveryCommandAndTheExitCodes(string commandLine)
    {
        var (code, output, _) = await Run(commandLine);

        Assert.Equal(OperatorCommands.Ok, code);
        foreach (var command in new[]
        {
            "robots", "watch", "assign", "budget", "estop", "resume", "assignments", "lease", "keys", "create-key", "revoke-key", "robot-credentials",
            "issue-credential", "revoke-credential", "audit", "compat", "models", "thresholds", "live", "calibrate", "calibration", "cancel-calibration",
            "schedule-calibration", "calibration-schedule", "unschedule-calibration",
        })
        {
            Assert.Matches($@"\n  {command}\s", output);
        }

        Assert.Contains("Exit codes: 0 done; 1 refused by the API", output, StringComparison.Ordinal);
        Assert.Contains("3 an e-stop or resume left a robot unconfirmed; 130 Ctrl-C", output, StringComparison.Ordinal);
        Assert.Contains("--api-key", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_OfCalibrate_ListsTheSharedCalibrationFlags()
    {
        var (code, output, _) = await Run("calibrate --help");

        Assert.Equal(OperatorCommands.Ok, code);
        foreach (var flag in new[] { "--families, --family", "--r", "--metric", "--decode", "--bad-data", "--holdout-share", "--batch", "--shards", "--make-live", "--job-id", "--no-wait" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }

    /// <summary>Every invocation the docs, scripts, tests and the old usage text show.</summary>
    [Theory]
    [InlineData("robots")]
    [InlineData("robots embodiment:dobot")]
    [InlineData("--url http://127.0.0.1:8080 --api-key a1k_x robots")]
    [InlineData("robots --url http://127.0.0.1:8080")]
    [InlineData("--by alice robots")]
    [InlineData("watch tag:line-1 --count 3")]
    [InlineData("watch")]
    [InlineData("assign embodiment:franka put the cup on the coaster")]
    [InlineData("budget robot:arm-1 150")]
    [InlineData("estop tag:line-1 --deadline-ms 3000")]
    [InlineData("estop all")]
    [InlineData("resume robot:arm-1 --deadline-ms 3000")]
    [InlineData("assignments")]
    [InlineData("assignments delete 7")]
    [InlineData("lease release arm-1")]
    [InlineData("lease release arm-1 --to agent-2")]
    [InlineData("keys")]
    [InlineData("create-key calibration admin")]
    [InlineData("revoke-key key-1")]
    [InlineData("robot-credentials arm-1")]
    [InlineData("issue-credential arm-1")]
    [InlineData("issue-credential arm-1 --name spare")]
    [InlineData("revoke-credential arm-1 cred-1")]
    [InlineData("audit")]
    [InlineData("audit --since 2026-01-31T12:00:00Z --limit 50")]
    [InlineData("compat presets")]
    [InlineData("compat show droid-1")]
    [InlineData("compat clear droid-1")]
    [InlineData("compat set droid-1 --preset openpi-droid --model small-fm --embodiment franka")]
    [InlineData("compat set arm-1 --preset a1-arx5 --model tiny-fm --embodiment agibot --control-hz 30 --robot-budget 50..200 --instruction task --cameras a,b --camera-order front,wrist --state-keys s1,s2 --metadata {\"k\":1}")]
    [InlineData("models")]
    [InlineData("thresholds tiny-fm")]
    [InlineData("live tiny-fm 3")]
    [InlineData("calibrate tiny-fm /data/tiny-fm-sim")]
    [InlineData("calibrate tiny-fm /data/tiny-fm-sim --shards 4 --r 1.0,0.7,0.4,0.1 --make-live exp-r0.7-cosine")]
    [InlineData("calibrate tiny-fm /data/tiny-fm-sim --family exp --no-wait")]
    [InlineData("calibrate tiny-fm /data/tiny-fm-sim --families exp,gauss --metric l2 --decode exit-warm-k2 --bad-data skip --holdout-share 0.2 --batch 8 --job-id j-1")]
    [InlineData("calibration job-1")]
    [InlineData("cancel-calibration job-1")]
    [InlineData("schedule-calibration tiny-fm /data/recordings --every 360 --r 1.0,0.7,0.4,0.1 --make-live exp-r0.7-cosine")]
    [InlineData("schedule-calibration tiny-fm /data/recordings --every 60 --first-in 30 --always --shards 2 --family exp")]
    [InlineData("calibration-schedule tiny-fm")]
    [InlineData("calibration-schedule tiny-fm --run-now")]
    [InlineData("unschedule-calibration tiny-fm")]
    public void Parse_DocumentedInvocation_ParsesWithoutProblems(string commandLine)
    {
        var parsed = OperatorCommands.Parse(commandLine.Split(' '));

        Assert.Empty(A1Fleet.Operator.Client.CheckedCommand.Problems(parsed));
        Assert.NotNull(parsed.CommandResult.Command.Action);
    }

    [Fact]
    public void Table_Piped_IsAHeaderAndTabSeparatedRowsWhileATerminalGetsAlignedColumns()
    {
        string[] headers = ["robot", "state"];
        List<string[]> rows = [["arm-1", "idle"], ["arm-22", "E-STOP\twith tab"]];
        using var piped = new StringWriter();
        using var terminal = new StringWriter();

        Table.Plain.Write(piped, headers, rows);
        Table.Aligned.Write(terminal, headers, rows);

        Assert.Equal("robot\tstate\narm-1\tidle\narm-22\tE-STOP\\u0009with tab\n", piped.ToString().ReplaceLineEndings("\n"));
        Assert.Equal("robot   state\n------  --------------------\narm-1   idle\narm-22  E-STOP\\u0009with tab\n", terminal.ToString().ReplaceLineEndings("\n"));
    }

    private static async Task<(int Code, string Output, string Error)> Run(string commandLine)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] args = commandLine.Length == 0 ? [] : ["--url", Nowhere, .. commandLine.Split(' ')];
        var code = await OperatorCommands.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }
}
