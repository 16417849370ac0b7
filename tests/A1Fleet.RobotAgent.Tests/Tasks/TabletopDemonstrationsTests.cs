using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;
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

    [Fact]
    public async Task RecordEveryBlock_OneSeed_OneSolvedEpisodePerBlockSameStartDifferentMotions()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        IReadOnlyList<TabletopEpisodeResult> results;
        string directory;
        await using (var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 }),
                         NullLogger<EpisodeRecorder>.Instance))
        {
            results = TabletopDemonstrations.RecordEveryBlock(recorder, profile, 32, [7]);
            directory = recorder.DatasetDirectory(TabletopDemonstrations.DatasetId, profile.Embodiment);
        }

        // Seed 7's scene three times, the instruction naming each block in turn, the seeded skill kept.
        Assert.Equal(TabletopWorld.BlockCount, results.Count);
        Assert.All(results, r => Assert.True(r.Succeeded, $"{r.Instruction}: not solved"));
        Assert.Equal(TabletopWorld.BlockCount, results.Select(r => r.Instruction).Distinct().Count());
        Assert.Single(results.Select(r => r.Skill).Distinct());
        var world = new TabletopWorld(profile, 7, new SimulatedArm(profile, 7).ReadState());
        Assert.Contains(world.Instruction, results.Select(r => r.Instruction));

        var dataset = LeRobotDataset.Open(directory);
        var episodes = dataset.Episodes.OrderBy(e => e.EpisodeIndex).ToList();
        Assert.Equal(results.Select(r => r.Instruction), episodes.Select(e => e.Tasks.Single()));
        var columns = new List<ColumnRequest>
        {
            new(FeatureKeys.State, ColumnKind.Vector), new(FeatureKeys.Action, ColumnKind.Vector), new("observation.images.front", ColumnKind.Image),
        };
        var tables = new List<EpisodeTable>();
        foreach (var e in episodes)
        {
            tables.Add(await EpisodeTableReader.ReadAsync(dataset.FullPath(dataset.EpisodeDataPath(e.EpisodeIndex)), columns, CancellationToken.None));
        }

        // The same first state and image, so only the instruction can tell the motions apart; where the arm is
        // after eight frames differs between every pair of blocks.
        var firstState = tables[0].Vectors[FeatureKeys.State][0]!;
        var firstImage = tables[0].Images["observation.images.front"][0]!.Bytes!;
        for (var i = 1; i < tables.Count; i++)
        {
            Assert.Equal(firstState, tables[i].Vectors[FeatureKeys.State][0]);
            Assert.Equal(firstImage, tables[i].Images["observation.images.front"][0]!.Bytes);
            for (var j = 0; j < i; j++)
            {
                var a = tables[i].Vectors[FeatureKeys.Action][8]!;
                var b = tables[j].Vectors[FeatureKeys.Action][8]!;
                Assert.True(Enumerable.Range(0, 3).Max(k => MathF.Abs(a[k] - b[k])) > 0.02f,
                    $"blocks {j} and {i}: the same command at frame 8 ({string.Join(", ", a)})");
            }
        }
    }

    [Fact]
    public async Task RecordCorrections_PolicyThatHolds_EveryFrameRecordedWithTheExpertsCommandNotTheHold()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        IReadOnlyList<TabletopEpisodeResult> results;
        string directory;
        await using (var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 }),
                         NullLogger<EpisodeRecorder>.Instance))
        {
            // The expert's own demonstration of seed 5 first, then the same seed driven by a policy that holds.
            Assert.True(TabletopDemonstrations.Record(recorder, profile, 32, [5]).Single().Succeeded);
            results = TabletopDemonstrations.RecordCorrections(recorder, profile, 32, [5], () => new HoldPolicy(), "holder");
            directory = recorder.DatasetDirectory(TabletopDemonstrations.DatasetId, profile.Embodiment);
        }

        var held = Assert.Single(results);
        var maxSteps = (int)Math.Round(TabletopDemonstrations.MaxEpisodeSeconds * profile.ControlHz);
        Assert.False(held.Succeeded);
        Assert.Equal(maxSteps, held.Steps);
        var dataset = LeRobotDataset.Open(directory);
        var episodes = dataset.Episodes.OrderBy(e => e.EpisodeIndex).ToList();
        Assert.Equal(2, episodes.Count);
        Assert.Equal(maxSteps, episodes[1].Length);
        var columns = new List<ColumnRequest> { new(FeatureKeys.State, ColumnKind.Vector), new(FeatureKeys.Action, ColumnKind.Vector) };
        var expert = await EpisodeTableReader.ReadAsync(dataset.FullPath(dataset.EpisodeDataPath(0)), columns, CancellationToken.None);
        var corrected = await EpisodeTableReader.ReadAsync(dataset.FullPath(dataset.EpisodeDataPath(1)), columns, CancellationToken.None);

        // Same start, so the first label is the expert's first command; later the arm still holds where it began
        // while the labels have moved on towards the block.
        Assert.Equal(expert.Vectors[FeatureKeys.Action][0], corrected.Vectors[FeatureKeys.Action][0]);
        var start = corrected.Vectors[FeatureKeys.State][0]!;
        var lastState = corrected.Vectors[FeatureKeys.State][maxSteps - 1]!;
        var lastLabel = corrected.Vectors[FeatureKeys.Action][maxSteps - 1]!;
        Assert.True(MathF.Abs(lastState[0] - start[0]) < 1e-3f, $"the held arm moved: yaw {start[0]} -> {lastState[0]}");
        Assert.True(Enumerable.Range(0, 3).Max(j => MathF.Abs(lastLabel[j] - start[j])) > 0.1f,
            $"the labels never left the start: {string.Join(", ", lastLabel)} vs {string.Join(", ", start)}");
    }

    [Fact]
    public async Task RecordCorrections_RunsNamingEachBlock_EachEpisodeRecordedWithItsBlocksInstruction()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        IReadOnlyList<TabletopEpisodeResult> expert;
        IReadOnlyList<TabletopEpisodeResult> results;
        string directory;
        await using (var recorder = new EpisodeRecorder(Options.Create(new EpisodeRecordingOptions { Directory = _root, MaxEpisodeSeconds = 60, MinEpisodeFrames = 1 }),
                         NullLogger<EpisodeRecorder>.Instance))
        {
            // DAgger on contrastive demonstrations: the corrections name the same blocks as the expert's runs did.
            expert = TabletopDemonstrations.RecordEveryBlock(recorder, profile, 32, [7]);
            results = TabletopDemonstrations.RecordCorrections(recorder, profile, 32,
                Enumerable.Range(0, TabletopWorld.BlockCount).Select(block => (7, (int?)block)), () => new HoldPolicy(), "holder");
            directory = recorder.DatasetDirectory(TabletopDemonstrations.DatasetId, profile.Embodiment);
        }

        Assert.Equal(TabletopWorld.BlockCount, results.Select(r => r.Instruction).Distinct().Count());
        Assert.Equal(expert.Select(r => r.Instruction), results.Select(r => r.Instruction));
        var dataset = LeRobotDataset.Open(directory);
        var episodes = dataset.Episodes.OrderBy(e => e.EpisodeIndex).ToList();
        Assert.Equal(expert.Where(r => r.Succeeded).Select(r => r.Instruction).Concat(results.Select(r => r.Instruction)), episodes.Select(e => e.Tasks.Single()));
    }

    private sealed class HoldPolicy : ITabletopPolicy
    {
        private float[] _start = [];

        public void Begin(TabletopWorld world, ReadOnlySpan<float> joints) => _start = joints.ToArray();

        public void Act(in TabletopObservation observation, Span<float> jointTargets) => _start.CopyTo(jointTargets);
    }
}
