using System.Text.Json;
using System.Text.RegularExpressions;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Samples;
using A1Fleet.ModelBuilder.Tests.Support;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Tests;

public sealed partial class SampleDataTests
{
    private readonly BuiltPackage fm = TinyPackages.Fm;

    private static readonly List<ObservationSample> SmallFmSamples = SampleDataGenerator.Generate(ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm));

    [Fact]
    public void SamplesJson_TinyFm_EightEpisodesOfSixFramesWithFullSizeImages()
    {
        var samples = JsonSerializer.Deserialize<List<ObservationSample>>(File.ReadAllText(fm.File(PackageFiles.Samples)), ReferenceModelJson.Options);
        Assert.NotNull(samples);
        Assert.Equal(48, samples.Count);
        Assert.Equal(Enumerable.Range(0, 8), samples.Select(s => s.Episode).Distinct());
        Assert.All(samples.GroupBy(s => s.Episode), episode => Assert.Equal(6, episode.Count()));
        Assert.All(samples, s => Assert.Equal(16 * 16 * 3, Assert.Single(s.Images).Length));
        Assert.Equal(fm.Result.SampleCount, samples.Count);
    }

    [Fact]
    public void Generate_SmallFm_SixteenEpisodesOfTwelveFramesForBothCameras()
    {
        Assert.Equal(16 * 12, SmallFmSamples.Count);
        Assert.All(SmallFmSamples, s =>
        {
            Assert.Equal(2, s.Images.Count);
            Assert.All(s.Images, image => Assert.Equal(64 * 64 * 3, image.Length));
            Assert.NotEqual(s.Images[0], s.Images[1]);
        });
    }

    [Fact]
    public void Generate_SmallFm_StatesAndActionsInsideBounds()
    {
        var c = ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm);
        Assert.All(SmallFmSamples, s =>
        {
            Assert.Equal(c.StateDim, s.State.Length);
            Assert.NotNull(s.Actions);
            Assert.Equal(c.Chunk * c.ValidActionDims, s.Actions.Length);
            for (int i = 0; i < s.State.Length; i++)
            {
                Assert.InRange(s.State[i], c.StateQ01[i], c.StateQ99[i]);
            }

            for (int i = 0; i < s.Actions.Length; i++)
            {
                Assert.InRange(s.Actions[i], c.StateQ01[i % c.StateDim], c.StateQ99[i % c.StateDim]);
            }
        });
    }

    [Fact]
    public void Generate_SmallFm_FirstActionIsNextFramesState()
    {
        foreach (var episode in SmallFmSamples.GroupBy(s => s.Episode))
        {
            var frames = episode.ToList();
            for (int f = 0; f + 1 < frames.Count; f++)
            {
                Assert.Equal(frames[f + 1].State, frames[f].Actions!.Take(frames[f].State.Length));
            }

            Assert.Single(frames.Select(s => s.Instruction).Distinct());
        }
    }

    [Fact]
    public void Generate_SmallFm_ScenesMoveSmoothlyBetweenFrames()
    {
        var frames = SmallFmSamples.Where(s => s.Episode == 0).ToList();
        double step = MeanAbsoluteDifference(frames[0].Images[0], frames[1].Images[0]);
        double episode = MeanAbsoluteDifference(frames[0].Images[0], frames[^1].Images[0]);
        double acrossEpisodes = MeanAbsoluteDifference(frames[0].Images[0], SmallFmSamples.First(s => s.Episode == 1).Images[0]);
        Assert.True(step < acrossEpisodes, $"frame step {step:F2} vs other episode {acrossEpisodes:F2}");
        Assert.True(step > 0);
        Assert.True(episode >= step);
    }

    [Theory]
    [InlineData(ReferenceModelPresets.TinyFm)]
    [InlineData(ReferenceModelPresets.SmallMlp)]
    public void Generate_Preset_InstructionsUseKnownWordsAndFitTokens(string preset)
    {
        var c = ReferenceModelPresets.Get(preset);
        var vocabulary = c.Vocabulary.ToHashSet();
        Assert.All(SampleDataGenerator.Generate(c), s =>
        {
            string[] words = WordSplitter().Split(s.Instruction.ToLowerInvariant()).Where(w => w.Length > 0).ToArray();
            Assert.InRange(words.Length, 1, c.MaxTokens);
            Assert.All(words, w => Assert.Contains(w, vocabulary));
        });
    }

    [Fact]
    public void Generate_SameConfig_SameSamples()
    {
        var c = ReferenceModelPresets.Get(ReferenceModelPresets.TinyMlp);
        Assert.Equal(ReferenceModelJson.Serialize(SampleDataGenerator.Generate(c)), ReferenceModelJson.Serialize(SampleDataGenerator.Generate(c)));
    }

    private static double MeanAbsoluteDifference(byte[] a, byte[] b) => a.Zip(b, (p, q) => Math.Abs(p - q)).Average();

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex WordSplitter();
}
