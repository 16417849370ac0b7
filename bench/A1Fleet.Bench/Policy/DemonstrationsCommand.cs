using System.Globalization;
using A1Fleet.Datasets.Training;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Bench.Policy;

/// <summary>
/// <c>demonstrations --episodes N --out DIR [--image-size 64] [--first-seed 0]</c>: the scripted expert's solved
/// tabletop episodes recorded as a LeRobot dataset (DIR/lerobot/tabletop-franka, the source of truth), then exported
/// to the numpy training folder DIR (meta.json, *.npy) that the Python trainer reads.
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
            // Seeds are drawn until N episodes are solved, so the dataset has exactly N.
            var solved = 0;
            var list = new List<TabletopEpisodeResult>();
            for (var seed = firstSeed; solved < episodes; seed++)
            {
                var r = TabletopDemonstrations.Record(recorder, profile, imageSize, [seed]);
                list.AddRange(r);
                solved += r.Count(x => x.Succeeded);
            }

            results = list;
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
