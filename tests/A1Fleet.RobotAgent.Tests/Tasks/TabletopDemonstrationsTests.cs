using A1Fleet.Datasets.LeRobot;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;
using A1Fleet.RobotAgent.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Tests.Tasks;

public sealed class TabletopDemonstrationsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"a1-demos-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Record_FourSeeds_SolvedEpisodesInTheLeRobotDatasetWithTheirInstructionsAndLengths()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        IReadOnlyList<TabletopEpisodeResult> results;
        string directory;
        await using (var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 }),
                         NullLogger<EpisodeRecorder>.Instance))
        {
            results = TabletopDemonstrations.Record(recorder, profile, 32, [0, 1, 2, 3]);
            directory = recorder.DatasetDirectory(TabletopDemonstrations.DatasetId, profile.Embodiment);
        }

        var dataset = LeRobotDataset.Open(directory);
        var solved = results.Where(r => r.Succeeded).ToList();
        Assert.NotEmpty(solved);
        Assert.Equal(solved.Select(r => r.Instruction), dataset.Episodes.OrderBy(e => e.EpisodeIndex).Select(e => e.Tasks.Single()));
        Assert.Equal(solved.Select(r => r.SuccessStep!.Value + TabletopDemonstrations.HoldAfterSuccess), dataset.Episodes.OrderBy(e => e.EpisodeIndex).Select(e => e.Length));
        Assert.Equal("franka", dataset.Info.RobotType);
        Assert.Equal([32, 32, 3], dataset.Info.Features["observation.images.front"].Shape);
    }
}
