using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Training;

/// <summary>
/// The trained packages shipped in models/trained (docs/training.md): they load, imitate the
/// demonstrations they ship as samples (an untrained model of the same shape misses by several times
/// more), and their calibrated thresholds make early exit run fewer LM layers than full depth.
/// </summary>
public sealed class TrainedPackagesTests
{
    public static TheoryData<string> Packages => new() { "franka-tabletop-mlp", "franka-tabletop-fm" };

    [Theory]
    [MemberData(nameof(Packages))]
    public void Run_ShippedTrainedPackage_ImitatesItsDemonstrationsAndExitsEarly(string name)
    {
        var directory = Path.Combine(TrainingPython.RepositoryRoot, "models", "trained", name);
        using var engine = A1Engine.Load(directory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1 });
        var m = engine.Manifest;
        Assert.Equal(4, m.ThresholdSets.Count);
        var samples = engine.Package.LoadSamples().Take(48).ToList();
        var full = engine.Run(samples.Select((s, i) => Requests.From(s, DecodeSettings.FullDepthK10, null, (ulong)i)).ToList());

        // Mean error over the chunk in normalised units (2 / (q99 - q01) per dim), over the valid dims
        // the demonstrations move (the expert holds some joints still: q01 = q99 there).
        var valid = Enumerable.Range(0, m.Action.Dim).Where(d => !m.Action.PaddingDims.Contains(d)).ToArray();
        double total = 0;
        var count = 0;
        for (var i = 0; i < samples.Count; i++)
        {
            Assert.True(full[i].Succeeded, full[i].Error);
            var recorded = samples[i].Actions!;
            for (var j = 0; j < recorded.Length; j++)
            {
                var dim = valid[j % valid.Length];
                var range = m.Action.Q99[dim] - m.Action.Q01[dim];
                if (range < 1e-6)
                {
                    continue;
                }

                total += 2 * Math.Abs(full[i].Actions[j] - recorded[j]) / range;
                count++;
            }
        }

        var meanError = total / count;
        // Measured 2026-12-06: MLP 0.033, FM 0.086 (warm-seed-1-steps-19200; 0.108 before it); an untrained model of the same
        // shape misses by about 0.8. The FM's chunk is a sample (K = 10 Euler steps from noise) that spreads around its
        // mean, and its samples are frames of its DAgger data, so it gets more room (docs/training.md, "Where the
        // precision goes").
        var bound = m.HeadKind == HeadKinds.FlowMatching ? 0.12 : 0.1;
        Assert.True(meanError < bound, $"{name}: mean normalised error {meanError:F3} against its demonstrations (bound {bound})");

        var thresholds = ThresholdSet.Load(engine.Package.PathOf(m.ThresholdSets.Single(s => s.Contains("exp-r0.4", StringComparison.Ordinal))));
        var early = engine.Run(samples.Select((s, i) => Requests.From(s, DecodeSettings.EarlyExitWarmK2, thresholds, (ulong)i)).ToList());
        Assert.All(early, r => Assert.True(r.Succeeded, r.Error));
        // The first exit is the weakest (held there the MLP solves 13-15 of 100 episodes, the FM 42, against 75-80 at
        // the second; docs/policy.md), so the shipped sets never exit there.
        Assert.True(thresholds.ForbidFirstExit, $"{name}: the shipped sets must be calibrated with --forbid-first-exit");
        Assert.All(early, r => Assert.NotEqual(engine.ExitLayers[0], r.ExitLayer));
        Assert.True(early.Average(r => r.LayersRun) < full.Average(r => r.LayersRun), $"{name}: early exit ran {early.Average(r => r.LayersRun):F2} layers, full depth {full.Average(r => r.LayersRun):F2}");
    }
}
