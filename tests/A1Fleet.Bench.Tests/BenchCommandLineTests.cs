using A1Fleet.Bench;

namespace A1Fleet.Bench.Tests;

/// <summary>The bench's command line in process: the documented invocations, what they set, and what is refused before a scenario starts.</summary>
public sealed class BenchCommandLineTests
{
    /// <summary>Every invocation docs/benchmarks.md, docs/policy.md and the old usage text show.</summary>
    [Theory]
    [InlineData("engine", "engine")]
    [InlineData("engine --quick --model small-fm --batch 8 --out artifacts/bench", "engine")]
    [InlineData("fleet --quick", "fleet")]
    [InlineData("fleet --quick --load-only", "fleet")]
    [InlineData("fleet --quick --load-only --device simulated --out artifacts/bench-simulated", "fleet")]
    [InlineData("fleet --quick --load-only --device simulated --time-scale 10", "fleet")]
    [InlineData("fleet --load-only --device simulated --device-speedup 4", "fleet")]
    [InlineData("fleet --load-only --intra-op-threads 1", "fleet")]
    [InlineData("fleet --load-only --execution-provider cuda --out artifacts/bench-gpu", "fleet")]
    [InlineData("engine --quick --execution-provider cuda", "engine")]
    [InlineData("fleet --model tiny-fm --models tiny-fm,small-fm --models-root artifacts/models", "fleet")]
    [InlineData("reliability", "reliability")]
    [InlineData("reliability --quick --out artifacts/bench", "reliability")]
    [InlineData("simfleet", "simfleet")]
    [InlineData("simfleet --quick", "simfleet")]
    [InlineData("simfleet --time-scale 50 --scaleout-time-scale 10 --out artifacts/bench --models-root artifacts/models", "simfleet")]
    [InlineData("simfleet --quick --only failover", "simfleet")]
    [InlineData("policy", "policy")]
    [InlineData("policy --quick --mlp models/trained/franka-tabletop-mlp --fm models/trained/franka-tabletop-fm", "policy")]
    [InlineData("policy --episodes 50 --calibration-episodes 8 --execute-steps 2 --parity artifacts/bench/parity.json --out artifacts/bench --models-root artifacts/models", "policy")]
    [InlineData("policy --forbid-first-exit --out artifacts/bench-no-first-exit", "policy")]
    [InlineData("demonstrations --episodes 600 --out artifacts/training-data/tabletop-franka-600", "demonstrations")]
    [InlineData("demonstrations --episodes 40 --image-size 64 --first-seed 0", "demonstrations")]
    [InlineData("demonstrations --episodes 1200 --every-block --out artifacts/training-data/tabletop-franka-every-1200", "demonstrations")]
    [InlineData("policy-episodes --package models/trained/franka-tabletop-fm --first-seed 1000000 --episodes 100", "policy-episodes")]
    [InlineData("policy-episodes --package models/trained/franka-tabletop-fm --episodes 100 --max-layer 3", "policy-episodes")]
    [InlineData("policy-episodes --package models/trained/franka-tabletop-fm --episodes 100 --decoding exit-warm-k2", "policy-episodes")]
    public async Task RunAsync_DocumentedInvocation_RunsThatScenario(string commandLine, string scenario)
    {
        string? ran = null;

        var code = await BenchCommandLine.RunAsync(commandLine.Split(' '), TextWriter.Null, TextWriter.Null, (name, _, _) =>
        {
            ran = name;
            return Task.FromResult(BenchCommandLine.Ok);
        });

        Assert.Equal(BenchCommandLine.Ok, code);
        Assert.Equal(scenario, ran);
    }

    /// <summary>The arguments the scenario named on <paramref name="commandLine"/> is run with (null: none ran).</summary>
    private static async Task<BenchArgs?> ArgumentsOf(params string[] commandLine)
    {
        BenchArgs? seen = null;
        await BenchCommandLine.RunAsync(commandLine, TextWriter.Null, TextWriter.Null, (_, _, args) =>
        {
            seen = args;
            return Task.FromResult(BenchCommandLine.Ok);
        });
        return seen;
    }

    [Fact]
    public async Task RunAsync_FleetFlags_SetTheScenarioArguments()
    {
        var seen = await ArgumentsOf("fleet", "--quick", "--load-only", "--device", "simulated", "--out", "artifacts/bench-simulated", "--model", "tiny-fm");

        Assert.Equal(new BenchArgs(true, "tiny-fm", 8, "artifacts/bench-simulated", BenchArgs.DefaultModelsRoot, null, LoadOnly: true, SimulatedDevice: true), seen);
    }

    [Fact]
    public async Task RunAsync_FleetDeviceSpeedup_SetsTheScenarioArgument()
    {
        var seen = await ArgumentsOf("fleet", "--load-only", "--device", "simulated", "--device-speedup", "4");

        Assert.NotNull(seen);
        Assert.True(seen.SimulatedDevice);
        Assert.Equal(4, seen.DeviceSpeedup);
        Assert.Equal(1, seen.TimeScale);
    }

    [Fact]
    public async Task RunAsync_FleetIntraOpThreads_SetsTheScenarioArgument()
    {
        var seen = await ArgumentsOf("fleet", "--load-only", "--intra-op-threads", "1");

        Assert.Equal(1, seen?.IntraOpThreads);
        Assert.Equal(0, (await ArgumentsOf("fleet", "--load-only"))?.IntraOpThreads);
    }

    [Theory]
    [InlineData("fleet")]
    [InlineData("engine")]
    public async Task RunAsync_ExecutionProvider_EveryEngineOfTheRunLoadsWithIt(string scenario)
    {
        var seen = await ArgumentsOf(scenario, "--execution-provider", "CUDA");

        Assert.Equal("cuda", seen?.ExecutionProvider);
        Assert.Equal("cuda", seen?.EngineOptions(16).ExecutionProvider);
        Assert.Equal("cpu", (await ArgumentsOf(scenario))?.EngineOptions(16).ExecutionProvider);
    }

    [Fact]
    public async Task RunAsync_SimfleetTimeScales_SetTheScenarioArguments()
    {
        var seen = await ArgumentsOf("simfleet", "--quick", "--time-scale", "40", "--scaleout-time-scale", "5");

        Assert.NotNull(seen);
        Assert.True(seen.Quick);
        Assert.Equal(40, seen.TimeScale);
        Assert.Equal(5, seen.ScaleoutTimeScale);
    }

    [Theory]
    [InlineData("failover", "failover")]
    [InlineData("Crowd", "crowd")]
    public async Task RunAsync_SimfleetOnly_SetsThePhase(string phase, string expected)
    {
        var seen = await ArgumentsOf("simfleet", "--quick", "--only", phase);

        Assert.Equal(expected, seen?.Only);
    }

    [Theory]
    [InlineData("fleet --quick --loadonly", "'--loadonly'")]
    [InlineData("reliability --model small-fm", "'--model'")]
    [InlineData("engine --batch x", "--batch x: must be a positive whole number")]
    [InlineData("fleet --device gpu", "--device gpu: use engine or simulated")]
    [InlineData("fleet --quick --load-only --time-scale 10", "--time-scale applies to --load-only --device simulated only")]
    [InlineData("fleet --quick --device simulated --time-scale 10", "--time-scale applies to --load-only --device simulated only")]
    [InlineData("fleet --quick --load-only --device-speedup 4", "--device-speedup applies to --load-only --device simulated only")]
    [InlineData("fleet --load-only --device simulated --device-speedup 0.5", "--device-speedup 0.5: must be a number within 1..100")]
    [InlineData("fleet --load-only --intra-op-threads -1", "--intra-op-threads")]
    [InlineData("fleet --load-only --intra-op-threads two", "--intra-op-threads two: must be a whole number within 0..1024")]
    [InlineData("engine --execution-provider rocm", "--execution-provider rocm: use cpu or cuda")]
    [InlineData("simfleet --execution-provider cuda", "'--execution-provider'")]
    [InlineData("simfleet --time-scale 0.5", "--time-scale 0.5: must be a number within 1..1000")]
    [InlineData("simfleet --scaleout-time-scale x", "--scaleout-time-scale x: must be a number within 1..1000")]
    [InlineData("simfleet --only everything", "--only everything: use scaleout, crowd, failover")]
    [InlineData("policy --episodes 0", "--episodes 0: must be a positive whole number")]
    [InlineData("demonstrations --first-seed -1", "--first-seed")]
    [InlineData("policy-episodes --max-layer -1", "--max-layer")]
    [InlineData("policy-episodes --max-layer three", "--max-layer three: must be a non-negative whole number")]
    [InlineData("policy-episodes --decoding warm", "--decoding warm: use exit-warm-k2, exit-cold-k2, exit-cold-k10, full-k10")]
    [InlineData("benchmark-everything", "'benchmark-everything'")]
    [InlineData("", "Required command was not provided")]
    public async Task RunAsync_UnknownOptionOrBadValue_ExitsTwoNamingItWithoutRunning(string commandLine, string message)
    {
        using var error = new StringWriter();
        var ran = false;

        var code = await BenchCommandLine.RunAsync(commandLine.Length == 0 ? [] : commandLine.Split(' '), TextWriter.Null, error, (_, _, _) =>
        {
            ran = true;
            return Task.FromResult(BenchCommandLine.Ok);
        });

        Assert.Equal(BenchCommandLine.Usage, code);
        Assert.False(ran);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ScenarioThrows_ExitsOneWithTheMessageAndNoStackTrace()
    {
        using var error = new StringWriter();

        var code = await BenchCommandLine.RunAsync(["engine", "--quick"], TextWriter.Null, error, (_, _, _) => throw new InvalidDataException("model package is broken"));

        Assert.Equal(BenchCommandLine.Failed, code);
        Assert.Contains("bench: engine failed: InvalidDataException: model package is broken", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsEveryScenario()
    {
        using var output = new StringWriter();

        var code = await BenchCommandLine.RunAsync(["--help"], output, TextWriter.Null, (_, _, _) => Task.FromResult(BenchCommandLine.Failed));

        Assert.Equal(BenchCommandLine.Ok, code);
        foreach (var scenario in new[] { "engine", "fleet", "reliability", "simfleet", "policy", "demonstrations" })
        {
            Assert.Matches($@"\n  {scenario}\s", output.ToString());
        }
    }
}
