namespace A1Fleet.Engine;

/// <summary>How an engine runs its graphs. Bind from configuration section "A1Fleet:Engine".</summary>
public sealed class EngineOptions
{
    public const string SectionName = "A1Fleet:Engine";

    /// <summary>"cpu" (default) or "cuda". CUDA needs the GPU native package chosen at build time (docs/gpu.md).</summary>
    public string ExecutionProvider { get; set; } = "cpu";

    public int CudaDeviceId { get; set; }

    /// <summary>
    /// Intra-op threads of ONNX Runtime's process-wide pool (the first engine loaded in a process sizes it). 0: the
    /// processors this process may use where a CPU limit or affinity leaves it fewer than the machine has, otherwise ONNX
    /// Runtime's default of one per physical core (<see cref="Onnx.IntraOpPool"/>). Fewer than the cores leaves the host
    /// (Orleans, the grains, the collector) room of its own, at the device's throughput (docs/benchmarks.md).
    /// </summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Largest batch one call may carry; working buffers are sized for it once, at load.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>
    /// Most batches one engine holds in flight at once, advanced a layer at a time in turn (<see cref="Inference.A1Engine.Begin"/>):
    /// each has its own working buffers and bindings, sized for <see cref="MaxBatchSize"/>, made when first needed and
    /// kept (for small-fm at batch 32, about 4 MB a row, 128 MB a batch). <see cref="Inference.A1Engine.Begin"/> past the
    /// bound throws; the silo's device thread stops taking batches from its queue while the bound is reached (the queue
    /// then fills and the inference grains wait for room).
    /// </summary>
    public int MaxBatchesInFlight { get; set; } = 3;

    /// <summary>
    /// Expert layers of a flow-matching head's denoising pass run in one step of a batch (<see cref="Inference.A1Engine.ExpertLayersPerStep"/>);
    /// 0: the head runs whole in its layer's step. Not set (the default): whole until <see cref="Inference.A1Engine.WarmUp"/>
    /// (which a silo runs at start) prices the parts, then as many as take about one LM layer.
    /// </summary>
    public int? ExpertLayersPerStep { get; set; }

    /// <summary>
    /// Whether graph inputs are bound again before every run. Needed on any device but the CPU, where ONNX Runtime
    /// copies a bound host input when it is bound (so it is on whenever <see cref="ExecutionProvider"/> is not "cpu");
    /// tests turn it on for the CPU to run that path where no GPU is.
    /// </summary>
    internal bool RebindInputsPerRun { get; set; }

    internal bool InputsCopiedAtBind => RebindInputsPerRun || !string.Equals(ExecutionProvider, "cpu", StringComparison.Ordinal);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (ExecutionProvider is not ("cpu" or "cuda"))
        {
            errors.Add($"ExecutionProvider '{ExecutionProvider}' is unknown: use 'cpu' or 'cuda'.");
        }

        if (IntraOpThreads < 0)
        {
            errors.Add($"IntraOpThreads {IntraOpThreads} is negative: use 0 for one thread per core this process may use.");
        }

        if (MaxBatchSize is < 1 or > 1024)
        {
            errors.Add($"MaxBatchSize {MaxBatchSize} is outside 1..1024.");
        }

        if (ExpertLayersPerStep is < 0)
        {
            errors.Add($"ExpertLayersPerStep {ExpertLayersPerStep} is negative: use 0 for the whole head in one step, or leave it unset to size it at warm-up.");
        }

        if (MaxBatchesInFlight is < 1 or > 64)
        {
            errors.Add($"MaxBatchesInFlight {MaxBatchesInFlight} is outside 1..64.");
        }

        if (CudaDeviceId < 0)
        {
            errors.Add($"CudaDeviceId {CudaDeviceId} is negative.");
        }

        return errors;
    }
}
