using System.Text.Json;
using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests.Training;

/// <summary>
/// The exporter recipe for A1's own classes (docs/model-format.md), applied to a stand-in with A1's
/// module structure and tensor conventions (training/a1fleet_train/a1_standin.py; A1's code and
/// weights cannot be installed here): the engine on the exported package must reproduce the
/// stand-in's own A1-style forward (streams appended before each block, K/V of blocks 0..l) at
/// every exit, per sample, within 1e-4.
/// </summary>
public sealed class A1StandInExportTests : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "a1fleet-a1standin-" + Guid.NewGuid().ToString("N"));

    [TorchFact]
    public void Run_ExportedMlpStandIn_MatchesItsOwnForwardAtEveryExit() => Check("mlp");

    [TorchFact]
    public void Run_ExportedFmStandIn_MatchesItsOwnForwardAtEveryExit() => Check("fm");

    private void Check(string head)
    {
        Directory.CreateDirectory(_work);
        var package = Path.Combine(_work, head);
        var reference = Path.Combine(_work, head + ".json");
        TrainingPython.Run("-m", "a1fleet_train.a1_export", "--head", head, "--out", package, "--reference", reference);
        var expected = JsonSerializer.Deserialize<Reference>(File.ReadAllText(reference), Json)!;
        using var engine = A1Engine.Load(package, new EngineOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        var samples = engine.Package.LoadSamples();
        Assert.Equal(samples.Count * engine.ExitLayers.Count, expected.Exits.Count);
        var results = engine.Run(expected.Exits.Select(e => Requests.From(samples[e.Sample], new DecodeSettings(ExitMode.FullDepth, e.Steps, false), null, e.Seed, e.Layer)).ToList());
        var outputs = new HashSet<string>();
        for (var i = 0; i < results.Length; i++)
        {
            var (want, got) = (expected.Exits[i], results[i]);
            Assert.True(got.Succeeded, got.Error);
            Assert.Equal(want.Layer, got.ExitLayer);
            Assert.Equal(want.Actions.Length, got.Actions.Length);
            for (var j = 0; j < want.Actions.Length; j++)
            {
                Assert.True(Math.Abs(want.Actions[j] - got.Actions[j]) <= 1e-4, $"{head} sample {want.Sample} exit {want.Layer} action {j}: stand-in {want.Actions[j]}, engine {got.Actions[j]}");
            }

            outputs.Add(string.Join(',', got.Actions.Select(a => a.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))));
        }

        // Different exits and samples give different chunks: the comparison is not of constants.
        Assert.Equal(results.Length, outputs.Count);
    }

    public void Dispose()
    {
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private sealed record Exit(int Sample, int Layer, ulong Seed, int Steps, float[] Actions);

    private sealed record Reference(List<Exit> Exits);
}
