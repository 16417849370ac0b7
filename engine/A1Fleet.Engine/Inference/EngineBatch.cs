using A1Fleet.Engine.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// A batch that runs a step at a time, so one device thread can interleave several batches layer by layer (the
/// silo's inference service runs, at each step, the batch whose deadline is most pressing). Rows of different
/// batches never share an ONNX run. Not thread-safe: one thread steps it.
/// </summary>
public interface ISteppedBatch : IDisposable
{
    /// <summary>Every row has its result (answered through the callback given when the batch began).</summary>
    bool IsCompleted { get; }

    /// <summary>
    /// Runs the next step: the prefix (with the batch's inputs) first, then one LM layer with the head and exit test
    /// that layer needs. Returns <see cref="IsCompleted"/> after it. A canceled batch fails its remaining rows and
    /// throws <see cref="OperationCanceledException"/>.
    /// </summary>
    bool Step();

    /// <summary>One result per request, in request order; a row's slot is set the moment it leaves the batch.</summary>
    InferenceResult[] Results { get; }

    /// <summary>Steps still to run at most: the prefix if not run yet, and the LM layers up to the deepest cap of the rows still in the batch.</summary>
    int RemainingSteps { get; }

    /// <summary>Rows still in the batch (the size the next step runs at).</summary>
    int Rows { get; }

    /// <summary>-1 until the prefix ran; then the LM layer the next step runs.</summary>
    int NextLayer { get; }
}

/// <summary>
/// A batch in flight on an <see cref="A1Engine"/> (<see cref="A1Engine.Begin"/>): its own working buffers, bindings
/// and row states, pooled by the engine (at most <see cref="EngineOptions.MaxBatchesInFlight"/>, made when first
/// needed). Disposing it hands them back; a batch disposed before it completed answers its remaining rows
/// <see cref="InferenceErrorKind.Canceled"/>. Do not touch it after disposing it: the engine reuses it.
/// </summary>
public sealed class EngineBatch : ISteppedBatch
{
    private readonly A1Engine _engine;

    internal EngineBatch(A1Engine engine, ModelDims dims, int maxBatch, int slot)
    {
        _engine = engine;
        Buffers = new EngineBuffers(dims, maxBatch, slot);
        RowPool = Enumerable.Range(0, maxBatch).Select(_ => new RowState(dims)).ToArray();
        Slots = new RowState[maxBatch];
    }

    internal EngineBuffers Buffers { get; }
    internal RowState[] RowPool { get; }
    internal RowState[] Slots { get; }
    internal RunOptions RunOptions { get; } = new();

    // The batch running on these buffers (reset by A1Engine.Begin).
    internal IReadOnlyList<InferenceRequest> Requests = [];
    internal int Start;
    internal int Count;
    internal InferenceResult[] ResultSlots = [];
    internal Action<int, InferenceResult>? OnResult;
    internal BatchStatistics? Statistics;
    internal CancellationToken CancellationToken;
    internal CancellationTokenRegistration Registration;
    internal long FirstStepTicks;
    internal long BusyTicks;
    internal long OrtTicks;
    internal int Active;
    internal int EarlyExitRows;
    internal int Next;
    internal int Deepest;
    internal int RemainingDeepest;
    internal bool InUse;
    internal bool Completed;
    internal bool Pooled = true;

    public bool IsCompleted => Completed;

    public InferenceResult[] Results => ResultSlots;

    public int RemainingSteps => Completed ? 0 : (Next < 0 ? RemainingDeepest + 2 : Math.Max(0, RemainingDeepest - Next + 1));

    public int NextLayer => Next;

    public int Rows => Completed ? 0 : Active;

    public bool Step() => _engine.Step(this);

    public void Dispose() => _engine.End(this);

    internal void DisposeBuffers()
    {
        Buffers.Dispose();
        RunOptions.Dispose();
    }
}
