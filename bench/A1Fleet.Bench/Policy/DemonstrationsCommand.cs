using System.Globalization;
using A1Fleet.Datasets.Training;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Bench.Policy;

/// <summary>
/// <c>demonstrations --episodes N --out DIR [--image-size 64] [--first-seed 0] [--every-block] [--dagger PKG [--dagger-episodes M]]</c>: the scripted expert's solved
/// tabletop episodes recorded as a LeRobot dataset (DIR/lerobot/tabletop-franka, the source of truth), then exported
/// to the numpy training folder DIR (meta.json, *.npy) that the Python trainer reads. With <c>--every-block</c> each
/// seed's scene is recorded once per block, the instruction naming each in turn
/// (<see cref="TabletopDemonstrations.RecordEveryBlock"/>); seeds are drawn until at least N episodes are solved. With <c>--dagger PKG
/// [--dagger-episodes M]</c> the same dataset also gets DAgger corrections: the package drives on the first M solved
/// seeds and the scripted expert labels every frame (<see cref="TabletopDemonstrations.RecordCorrections"/>).
/// </summary>
internal static class DemonstrationsCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        string? Value(string name)
        {
            var i = args.ToList().IndexOf(name);
            return i >= 0 && i + 1 < args.Count ? args[i + 1] : null;
        }

        var episodes = int.Parse(Value("--episodes") ?? "40", CultureInfo.InvariantCulture);
        var imageSize = int.Parse(Value("--image-size") ?? "64", CultureInfo.InvariantCulture);
        var firstSeed = int.Parse(Value("--first-seed") ?? "0", CultureInfo.InvariantCulture);
        var everyBlock = args.Contains("--every-block");
        var output = Path.GetFullPath(Value("--out") ?? Path.Combine("artifacts", "training-data", $"tabletop-franka-{episodes}"));
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var lerobotRoot = Path.Combine(output, "lerobot");
        if (Directory.Exists(lerobotRoot))
        {
            Console.Error.WriteLine($"{lerobotRoot} exists: give a fresh --out (demonstrations are not appended to an old dataset)");
            return 2;
        }

        var started = DateTime.UtcNow;
        List<TabletopEpisodeResult> results;
        string datasetDirectory;
        var options = Options.Create(new EpisodeRecordingOptions { Directory = lerobotRoot, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 });
        await using (var recorder = new EpisodeRecorder(options, NullLogger<EpisodeRecorder>.Instance))
        {
            // Seeds are drawn until N episodes are solved, so the dataset has exactly N (with --every-block, N to N + 2).
            var solved = 0;
            var list = new List<TabletopEpisodeResult>();
            for (var seed = firstSeed; solved < episodes; seed++)
            {
                var r = everyBlock
                    ? TabletopDemonstrations.RecordEveryBlock(recorder, profile, imageSize, [seed])
                    : TabletopDemonstrations.Record(recorder, profile, imageSize, [seed]);
                list.AddRange(r);
                solved += r.Count(x => x.Succeeded);
            }

            results = list;
            if (Value("--dagger") is { } package)
            {
                // Corrections: the package drives on the first --dagger-episodes solved runs (with --every-block each run's block), the expert labels.
                var count = int.Parse(Value("--dagger-episodes") ?? episodes.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                using var engine = A1Engine.Load(Path.GetFullPath(package), new EngineOptions { MaxBatchSize = 1 });
                var spec = PolicyBenchmark.SpecOf(engine);
                if (spec.Cameras.Length != 1 || spec.Cameras[0].Height != imageSize || spec.Cameras[0].Width != imageSize || spec.StateDim != profile.JointCount)
                {
                    Console.Error.WriteLine($"{package}: --dagger needs a model of one {imageSize}x{imageSize} camera and {profile.JointCount} state dims");
                    return 2;
                }

                var decode = engine.IsFlowMatching ? DecodeSettings.FullDepthK10 : new DecodeSettings(ExitMode.FullDepth, 1, false);
                var rollouts = TabletopDemonstrations.RecordCorrections(recorder, profile, imageSize, list.Select((r, i) => (Result: r, Target: everyBlock ? i % TabletopWorld.BlockCount : (int?)null))
                        .Where(x => x.Result.Succeeded).Take(count).Select(x => (x.Result.Seed, x.Target)),
                    () => new EnginePolicy(engine, spec, profile.JointCount, decode, null, int.MaxValue), $"dagger-{engine.ModelId}");
                Console.WriteLine($"DAgger: {engine.ModelId} drove {rollouts.Count} episodes (success {rollouts.Count(r => r.Succeeded) / (double)rollouts.Count:P1}), " +
                                  $"{rollouts.Sum(r => r.Steps)} frames labelled by the scripted expert");
            }
            datasetDirectory = recorder.DatasetDirectory(TabletopDemonstrations.DatasetId, profile.Embodiment);
        }

        var summary = await TrainingExport.ExportAsync(datasetDirectory, output);
        var success = results.Count(r => r.Succeeded) / (double)results.Count;
        Console.WriteLine($"expert solved {results.Count(r => r.Succeeded)} of {results.Count} seeded episodes ({success:P1}); " +
                          $"mean {results.Where(r => r.Succeeded).Average(r => r.Steps):F1} frames per recorded episode");
        Console.WriteLine($"LeRobot dataset: {datasetDirectory}");
        Console.WriteLine($"training folder: {summary.Directory} ({summary.Episodes} episodes, {summary.Frames} frames, {summary.Cameras.Count} camera(s) " +
                          $"{summary.ImageHeight}x{summary.ImageWidth}) in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
        return 0;
    }
}
