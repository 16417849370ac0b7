using A1Fleet.ModelBuilder.Config;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class ConfigTests
{
    [Theory]
    [InlineData(12, 2, new[] { 1, 3, 5, 7, 9, 11 })]
    [InlineData(6, 2, new[] { 1, 3, 5 })]
    [InlineData(12, 3, new[] { 1, 4, 7, 10, 11 })]
    [InlineData(28, 2, new[] { 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27 })]
    [InlineData(2, 2, new[] { 1 })]
    public void ExitLayers_LayersAndInterval_OneThenEveryKthThenLast(int layers, int interval, int[] expected)
    {
        var config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm) with { LmLayers = layers, ExitInterval = interval };
        Assert.Equal(expected, config.ExitLayers());
    }

    [Theory]
    [InlineData(ReferenceModelPresets.TinyFm, 13)]
    [InlineData(ReferenceModelPresets.TinyMlp, 4 + 1 + 8 + 24)]
    [InlineData(ReferenceModelPresets.SmallFm, 145)]
    [InlineData(ReferenceModelPresets.SmallMlp, 128 + 1 + 16 + 64)]
    public void Get_Preset_ValidWithExpectedSequenceLength(string preset, int sequenceLength)
    {
        var config = ReferenceModelPresets.Get(preset);
        config.Validate();
        Assert.Equal(preset, config.Name);
        Assert.Equal(sequenceLength, config.SequenceLength);
    }

    [Fact]
    public void Get_SmallFm_HasBriefedShapes()
    {
        var c = ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm);
        Assert.Equal((12, 256, 4, 64, 768, 3), (c.LmLayers, c.Hidden, c.KvHeads, c.HeadDim, c.Mlp, c.VisionLayers));
        Assert.Equal(["front", "wrist"], c.Cameras);
        Assert.Equal((64, 8, 64, 16), (c.ImageSize, c.Patch, c.PatchesPerCamera, c.MaxTokens));
        Assert.Equal((10, 16, 8, 128, 256), (c.Chunk, c.ActionDim, c.StateDim, c.ExpertHidden, c.ExpertMlp));
        Assert.Equal(Enumerable.Range(8, 8), c.PaddingDims);
    }

    [Fact]
    public void Get_SmallFm_StateBoundsInsideFrankaLimits()
    {
        var c = ReferenceModelPresets.Get(ReferenceModelPresets.SmallFm);
        float[] jointMin = [-2.8973f, -1.7628f, -2.8973f, -3.0718f, -2.8973f, -0.0175f, -2.8973f];
        float[] jointMax = [2.8973f, 1.7628f, 2.8973f, -0.0698f, 2.8973f, 3.7525f, 2.8973f];
        for (int joint = 0; joint < 7; joint++)
        {
            Assert.InRange(c.StateQ01[joint], jointMin[joint] + 0.001f, jointMin[joint] + 0.1f);
            Assert.InRange(c.StateQ99[joint], jointMax[joint] - 0.1f, jointMax[joint] - 0.001f);
        }

        Assert.Equal((0f, 0.08f), (c.StateQ01[7], c.StateQ99[7]));
        Assert.Equal(c.StateQ01, c.ActionQ01.Take(8));
        Assert.All(c.ActionQ01.Skip(8), q => Assert.Equal(-1f, q));
    }

    [Fact]
    public void Get_UnknownPreset_ThrowsListingKnownNames()
    {
        var error = Assert.Throws<ArgumentException>(() => ReferenceModelPresets.Get("huge-fm"));
        Assert.Contains(ReferenceModelPresets.SmallFm, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vocabulary_Shared_StartsWithPadAndUnknownAndHasManipulationWords()
    {
        var words = ManipulationVocabulary.Words;
        Assert.Equal(["<pad>", "<unk>"], words.Take(2));
        Assert.InRange(words.Count, 55, 70);
        Assert.Equal(words.Count, words.Distinct().Count());
        Assert.Subset(words.ToHashSet(), new HashSet<string> { "pick", "place", "put", "the", "red", "cup", "on", "coaster", "drawer", "open", "close", "block" });
    }

    [Fact]
    public void LoadConfig_SerializedPreset_RoundTrips()
    {
        var preset = ReferenceModelPresets.Get(ReferenceModelPresets.SmallMlp) with { Seed = 12345678901234UL };
        string path = Path.Combine(Path.GetTempPath(), $"a1fleet-config-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, ReferenceModelJson.Serialize(preset));
            var loaded = ReferenceModelJson.LoadConfig(path);
            Assert.Equal(ReferenceModelJson.Serialize(preset), ReferenceModelJson.Serialize(loaded));
            Assert.Contains("\"lmLayers\": 12", File.ReadAllText(path), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Validate_HiddenNotHeadsTimesHeadDim_ThrowsNamingTheProblem()
    {
        var config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm) with { Hidden = 48 };
        var error = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains("kvHeads * headDim", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ValidActionDimsNotStateDims_Throws()
    {
        var config = ReferenceModelPresets.Get(ReferenceModelPresets.TinyFm) with { PaddingDims = [7] };
        Assert.Throws<ArgumentException>(config.Validate);
    }
}
