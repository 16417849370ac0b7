namespace A1Fleet.EarlyExit.Tests.Calibration;

public sealed class ThresholdSetTests : IDisposable
{
    private static readonly DateTimeOffset CreatedAt = new(2025, 11, 24, 14, 29, 0, TimeSpan.Zero);
    private static readonly int[] FourExitLayers = [1, 3, 5, 7];

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "a1fleet-earlyexit-tests-" + Guid.NewGuid().ToString("N"));

    public ThresholdSetTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Calibrate_KnownMatrix_FillsEveryField()
    {
        var values = SmallMatrix();

        var set = Calibrate(values, "COSINE");

        Assert.Equal("cosine", set.Metric);
        Assert.Equal(DiscrepancyMetric.Cosine, set.ParsedMetric);
        Assert.Equal("exp", set.Family);
        Assert.Equal(ExitFamily.Exp, set.ParsedFamily);
        Assert.Equal(1.0, set.R);
        Assert.Equal(FourExitLayers, set.ExitLayers);
        Assert.Equal(8, set.TotalLayers);
        Assert.Equal(8, set.SampleCount);
        Assert.Equal("libero-train/seed0", set.Source);
        Assert.Equal(CreatedAt, set.CreatedAt);
        Assert.False(set.ForbidFirstExit);

        // Uniform over 4 exits with 8 samples: two per exit, no ties.
        Assert.Equal([0.2, 0.4, 0.6, double.PositiveInfinity], set.Thresholds);
        Assert.Equal([0.25, 0.25, 0.25, 0.25], set.ExpectedExitShares);
        // An MLP model: the head at exit l reads the stream entering block l, so l blocks run.
        Assert.Equal(((0.25 * 1) + (0.25 * 3) + (0.25 * 5) + (0.25 * 7)) / 8, set.ExpectedLayerFraction, 1e-15);
        Assert.Matches("^[0-9a-f]{16}$", set.Version);
        set.Validate();
    }

    [Fact]
    public void Calibrate_ForbidFirstExit_FirstExitIsOffAndRecorded()
    {
        var set = Calibrate(SmallMatrix(), "l2", forbidFirstExit: true);

        Assert.True(set.ForbidFirstExit);
        Assert.Equal(double.NegativeInfinity, set.Thresholds[0]);
        Assert.Equal(0.0, set.ExpectedExitShares[0]);
    }

    [Fact]
    public void Calibrate_SameContent_GivesSameVersionRegardlessOfCreationTime()
    {
        var first = Calibrate(SmallMatrix(), "cosine");
        var later = ThresholdSet.Calibrate(
            SmallMatrix(), "cosine", ExitFamily.Exp, 1.0, FourExitLayers, 8, false, "a1-libero-mlp", "3", "libero-train/seed0", CreatedAt.AddDays(1));
        var otherSource = ThresholdSet.Calibrate(
            SmallMatrix(), "cosine", ExitFamily.Exp, 1.0, FourExitLayers, 8, false, "a1-libero-mlp", "3", "libero-val", CreatedAt);

        Assert.Equal(first.Version, later.Version);
        Assert.NotEqual(first.Version, otherSource.Version);
    }

    [Fact]
    public void Calibrate_ExitLayerCountDiffersFromMatrix_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => ThresholdSet.Calibrate(
            SmallMatrix(), "cosine", ExitFamily.Exp, 1.0, [1, 3, 5], 8, false, "m", "1", "s", CreatedAt));

        Assert.Equal("exitLayers", error.ParamName);
    }

    [Fact]
    public void Calibrate_UnknownMetric_Throws()
    {
        Assert.Throws<ArgumentException>(() => Calibrate(SmallMatrix(), "hamming"));
    }

    [Theory]
    [InlineData(ExitFamily.Exp, 1.0, "cosine", "exp-r1.0-cosine")]
    [InlineData(ExitFamily.Exp, 0.7, "l2", "exp-r0.7-l2")]
    [InlineData(ExitFamily.Gauss, 2.0, "max", "gauss-r2.0-max")]
    [InlineData(ExitFamily.Gamma, 0.125, "mean", "gamma-r0.125-mean")]
    public void Name_FamilyRAndMetric_FormatsWithAtLeastOneDecimal(ExitFamily family, double r, string metric, string expected)
    {
        var set = ThresholdSet.Calibrate(SmallMatrix(), metric, family, r, FourExitLayers, 8, false, "m", "1", "s", CreatedAt);

        Assert.Equal(expected, set.Name);
    }

    [Fact]
    public void ToJson_SetWithInfinities_WritesNamedLiteralsAndCamelCase()
    {
        var set = Calibrate(SmallMatrix(), "cosine", forbidFirstExit: true);

        string json = set.ToJson();

        Assert.Contains("\"-Infinity\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Infinity\"", json, StringComparison.Ordinal);
        Assert.Contains("\"expectedLayerFraction\":", json, StringComparison.Ordinal);
        Assert.Contains("\"modelId\": \"a1-libero-mlp\"", json, StringComparison.Ordinal);
        Assert.Contains("\n  \"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"name\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("parsedMetric", json, StringComparison.Ordinal);
    }

    [Fact]
    public void FromJson_RoundTrip_KeepsEveryFieldIncludingInfinities()
    {
        var set = Calibrate(SmallMatrix(), "cosine", forbidFirstExit: true);

        var parsed = ThresholdSet.FromJson(set.ToJson());

        Assert.Equal(set, parsed);
        Assert.Equal(double.NegativeInfinity, parsed.Thresholds[0]);
        Assert.Equal(double.PositiveInfinity, parsed.Thresholds[^1]);
        Assert.Equal(set.ExpectedLayerFraction, parsed.ExpectedLayerFraction);
        Assert.Equal(set.Version, parsed.Version);
        Assert.Equal(set.Version, parsed.ComputeContentVersion());
    }

    [Fact]
    public void Equals_DifferentThreshold_IsFalse_SameContentInNewArrays_IsTrue()
    {
        var set = Calibrate(SmallMatrix(), "cosine");
        var copy = set with { Thresholds = (double[])set.Thresholds.Clone(), ExitLayers = (int[])set.ExitLayers.Clone() };
        var changed = set with { Thresholds = [0.2, 0.4, 0.61, double.PositiveInfinity] };

        Assert.Equal(set, copy);
        Assert.Equal(set.GetHashCode(), copy.GetHashCode());
        Assert.NotEqual(set, changed);
    }

    [Fact]
    public void SaveThenLoad_RoundTrip_ReturnsEqualSetAndLeavesNoTemporaryFile()
    {
        var set = Calibrate(SmallMatrix(), "mean");
        string path = Path.Combine(_directory, "nested", "thresholds.json");

        set.Save(path);
        var loaded = ThresholdSet.Load(path);

        Assert.Equal(set, loaded);
        Assert.Equal(["thresholds.json"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("exitLayersDescending", "exitLayers")]
    [InlineData("exitLayerBeyondModel", "exitLayers")]
    [InlineData("exitLayersEmpty", "exitLayers")]
    [InlineData("thresholdCount", "thresholds")]
    [InlineData("lastThresholdFinite", "thresholds")]
    [InlineData("nanThreshold", "thresholds")]
    [InlineData("shareCount", "expectedExitShares")]
    [InlineData("unknownMetric", "metric")]
    [InlineData("unknownFamily", "family")]
    [InlineData("negativeExpR", "r")]
    [InlineData("zeroTotalLayers", "totalLayers")]
    [InlineData("emptyModelId", "modelId")]
    public void Validate_InvalidField_ThrowsNamingTheField(string mutation, string field)
    {
        var invalid = Mutate(Calibrate(SmallMatrix(), "cosine"), mutation);

        var error = Assert.Throws<InvalidDataException>(invalid.Validate);

        Assert.Contains($"'{field}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_InvalidSet_ThrowsNamingFileAndField()
    {
        var invalid = Calibrate(SmallMatrix(), "cosine") with { Thresholds = [0.2, 0.4, 0.6, 0.8] };
        string path = Path.Combine(_directory, "bad-thresholds.json");
        File.WriteAllText(path, invalid.ToJson());

        var error = Assert.Throws<InvalidDataException>(() => ThresholdSet.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("'thresholds'", error.Message, StringComparison.Ordinal);
        Assert.Contains("Infinity", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MalformedJson_ThrowsNamingFile()
    {
        string path = Path.Combine(_directory, "truncated.json");
        File.WriteAllText(path, Calibrate(SmallMatrix(), "cosine").ToJson()[..40]);

        var error = Assert.Throws<InvalidDataException>(() => ThresholdSet.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromJson_MissingRequiredField_ThrowsNamingIt()
    {
        string json = Calibrate(SmallMatrix(), "cosine").ToJson().Replace("\"sampleCount\"", "\"sampleCountTypo\"", StringComparison.Ordinal);

        var error = Assert.Throws<InvalidDataException>(() => ThresholdSet.FromJson(json));

        Assert.Contains("sampleCount", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromJson_NullArray_ThrowsInvalidData()
    {
        var set = Calibrate(SmallMatrix(), "cosine");
        string json = set.ToJson();
        int start = json.IndexOf("\"thresholds\": [", StringComparison.Ordinal);
        int end = json.IndexOf(']', start);
        string withNull = string.Concat(json.AsSpan(0, start), "\"thresholds\": null", json.AsSpan(end + 1));

        var error = Assert.Throws<InvalidDataException>(() => ThresholdSet.FromJson(withNull));

        Assert.Contains("thresholds", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_InvalidSet_ThrowsAndWritesNothing()
    {
        var invalid = Calibrate(SmallMatrix(), "cosine") with { Metric = "hamming" };
        string path = Path.Combine(_directory, "never.json");

        Assert.Throws<InvalidDataException>(() => invalid.Save(path));

        Assert.Empty(Directory.GetFiles(_directory));
    }

    private static ThresholdSet Mutate(ThresholdSet set, string mutation) => mutation switch
    {
        "exitLayersDescending" => set with { ExitLayers = [1, 5, 3, 7] },
        "exitLayerBeyondModel" => set with { ExitLayers = [1, 3, 5, 8] },
        "exitLayersEmpty" => set with { ExitLayers = [] },
        "thresholdCount" => set with { Thresholds = [0.1, double.PositiveInfinity] },
        "lastThresholdFinite" => set with { Thresholds = [0.2, 0.4, 0.6, 1e9] },
        "nanThreshold" => set with { Thresholds = [0.2, double.NaN, 0.6, double.PositiveInfinity] },
        "shareCount" => set with { ExpectedExitShares = [0.5, 0.5] },
        "unknownMetric" => set with { Metric = "hamming" },
        "unknownFamily" => set with { Family = "poisson" },
        "negativeExpR" => set with { R = -1 },
        "zeroTotalLayers" => set with { TotalLayers = 0 },
        "emptyModelId" => set with { ModelId = "" },
        _ => throw new ArgumentOutOfRangeException(nameof(mutation), mutation, null),
    };

    private static ThresholdSet Calibrate(ValuesMatrix values, string metric, bool forbidFirstExit = false) =>
        ThresholdSet.Calibrate(
            values, metric, ExitFamily.Exp, 1.0, FourExitLayers, 8, false, "a1-libero-mlp", "3", "libero-train/seed0", CreatedAt, forbidFirstExit);

    // Eight samples whose values rise with the sample index at every exit, so exit k's quantile is
    // easy to read off: the uniform target takes samples {0,1} at exit 0 (T = 0.2), {2,3} at exit 1
    // (T = 0.4), {4,5} at exit 2 (T = 0.6) and leaves {6,7} to the last exit.
    private static ValuesMatrix SmallMatrix()
    {
        var matrix = new ValuesMatrix(4, 8);
        for (int exit = 0; exit < 4; exit++)
        {
            for (int sample = 0; sample < 8; sample++)
            {
                matrix[exit, sample] = (sample + 1) / 10.0;
            }
        }

        return matrix;
    }
}
