using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelBuilder.Packaging;
using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// Inputs reach the device on every run, not only at binding: two consecutive, different batches each give the CPU
/// engine's answer. On a non-CPU provider ONNX Runtime copies a bound host input when it is bound, so an engine that
/// cached its bindings would answer the second batch with the first one's inputs.
/// </summary>
[Collection(ReferenceModelsCollection.Name)]
public sealed class A1EngineDeviceInputTests(ReferenceModelsFixture models)
{
    /// <summary>The rebinding path itself, on the CPU (where it is not needed, but runs everywhere).</summary>
    [Theory]
    [InlineData("fm")]
    [InlineData("mlp")]
    public void Run_InputsBoundAgainPerRun_ConsecutiveDifferentBatchesEqualTheCachedBindingEngine(string head)
    {
        var reference = head == "fm" ? models.TinyFm : models.TinyMlp;
        using var rebinding = A1Engine.Load(reference.Package.Directory, new EngineOptions { MaxBatchSize = 16, IntraOpThreads = 1, RebindInputsPerRun = true });

        AssertSameAnswers(reference, rebinding);
    }

    [CudaFact]
    public void Run_OnCuda_ConsecutiveDifferentBatchesEqualTheCpuEngine()
    {
        foreach (var reference in new[] { models.TinyFm, models.TinyMlp })
        {
            using var cuda = A1Engine.Load(reference.Package.Directory, new EngineOptions { MaxBatchSize = 16, ExecutionProvider = "cuda" });
            AssertSameAnswers(reference, cuda, tolerance: 1e-3);
        }
    }

    /// <summary>Batch one, then a different batch two (other samples, other seeds, other sizes), on both engines.</summary>
    private static void AssertSameAnswers(A1Engine expected, A1Engine actual, double tolerance = 1e-6)
    {
        var samples = ReferenceModelsFixture.Samples(expected);
        var mid = ReferencePackages.LoadThresholds(expected.Package, "exp-r0.4-cosine");
        List<InferenceRequest>[] batches =
        [
            [.. Enumerable.Range(0, 4).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitWarmK2, mid, seed: (ulong)(i + 1)))],
            [.. Enumerable.Range(4, 3).Select(i => Requests.From(samples[i], DecodeSettings.FullDepthK10, seed: (ulong)(i + 11)))],
            [.. Enumerable.Range(1, 4).Select(i => Requests.From(samples[i], DecodeSettings.EarlyExitColdK2, mid, seed: (ulong)(i + 21)))],
        ];
        foreach (var (batch, index) in batches.Select((b, i) => (b, i)))
        {
            var want = expected.Run(batch);
            var got = actual.Run(batch);
            for (var r = 0; r < batch.Count; r++)
            {
                Assert.True(got[r].Succeeded, got[r].Error);
                Assert.Equal(want[r].ExitLayer, got[r].ExitLayer);
                for (var j = 0; j < want[r].Actions.Length; j++)
                {
                    Assert.True(Math.Abs(want[r].Actions[j] - got[r].Actions[j]) <= tolerance,
                        $"batch {index} request {r} action {j}: expected {want[r].Actions[j]}, got {got[r].Actions[j]}");
                }
            }
        }
    }
}

/// <summary>Runs where this build's ONNX Runtime has the CUDA provider and a CUDA device answers; reported skipped elsewhere.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaAvailable.Value)
        {
            Skip = "no CUDA: this build's ONNX Runtime has no CUDA provider or no CUDA device answers (docs/gpu.md: build with the GPU package)";
        }
    }

    private static readonly Lazy<bool> CudaAvailable = new(() =>
    {
        try
        {
            // The engine's process-wide environment (global thread pool, one thread as the fixture's engines ask):
            // OrtEnv.Instance() alone would create a default one, which the engine's sessions cannot use.
            A1Fleet.Engine.Onnx.OrtRuntime.EnsureEnvironment(1);
            if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            {
                return false;
            }

            using var options = new SessionOptions();
            options.AppendExecutionProvider_CUDA(0);
            return true;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    });
}
