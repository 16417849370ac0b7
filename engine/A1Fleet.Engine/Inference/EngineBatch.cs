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
    /// Runs the next step: the prefix (with the batch's inputs) first, whole or one stage a step (a package that splits
    /// it, <c>ModelFiles.PrefixStages</c>), then one LM layer with the head and exit test
    /// that layer needs. Returns <see cref="IsCompleted"/> after it. A canceled batch fails its remaining rows and
    /// throws <see cref="OperationCanceledException"/>.
    /// </summary>
    bool Step();

    /// <summary>One result per request, in request order; a row's slot is set the moment it leaves the batch.</summary>
    InferenceResult[] Results { get; }

    /// <summary>Steps still to run at most: what is left of the prefix, and the LM layers up to the deepest cap of the rows still in the batch.</summary>
    int RemainingSteps { get; }

    /// <summary>Rows still in the batch (the size the next step runs at).</summary>
    int Rows { get; }

    /// <summary>-1 until the prefix ran; then the LM layer the next step runs.</summary>
    int NextLayer { get; }

    /// <summary>
    /// Steps to run before the next one is LM layer <paramref name="layer"/>: what is left of the prefix (one step, or
    /// one per stage of a split prefix) and the layers before it; 0 at that layer, negative past it. A layer past the
    /// model's last counts the steps to its end.
    /// </summary>
    int StepsUntil(int layer);

    /// <summary>
    /// Takes the rows of <paramref name="other"/> into this batch, so one ONNX run per step serves both from here on
    /// (continuous batching at layer granularity). Only batches of the same model at the same point (both past the
    /// prefix, the same <see cref="NextLayer"/>), every row deciding its exit by the exit test, and together within the
    /// largest batch, can join; false otherwise, and nothing changed. Afterwards <paramref name="other"/> runs no step of
    /// its own: its rows answer through its own callback and results as this batch's steps finish them, and it completes
    /// with its last row. Disposing it first answers those rows canceled and takes them out of this batch.
    /// </summary>
    bool TryJoin(ISteppedBatch other);

    /// <summary>
    /// Whether this batch could take part in <see cref="TryJoin"/> once it stands at a layer another stands at (between
    /// layers: past the prefix, no head under way): every row left decides by the exit test, and it has not joined another.
    /// </summary>
    bool Joinable { get; }

    /// <summary>Whether batches joined this one and are not complete yet: it can take more, but join no other itself.</summary>
    bool HasGuests { get; }
}

/// <summary>
/// A batch in flight on an <see cref="A1Engine"/> (<see cref="A1Engine.Begin"/>): its rows' progress and answers, stepped
/// on a pooled <see cref="BatchContext"/> (working buffers, bindings and row states; at most
/// <see cref="EngineOptions.MaxBatchesInFlight"/>, made when first needed). Disposing it hands the context back; a batch
/// disposed before it completed answers its remaining rows <see cref="InferenceErrorKind.Canceled"/>. A batch that joined
/// another (<see cref="TryJoin"/>) hands its context back at once: its rows run on the other's. Do not step it after
/// disposing it.
/// </summary>
public sealed class EngineBatch : ISteppedBatch
{
    private readonly A1Engine _engine;

    internal EngineBatch(A1Engine engine, BatchContext context)
    {
        _engine = engine;
        Context = context;
    }

    /// <summary>Where its rows run; null once it joined another (they run on that one's) or was disposed.</summary>
    internal BatchContext? Context;

    internal EngineBuffers Buffers => Context!.Buffers;
    internal RowState[] RowPool => Context!.RowPool;
    internal RowState[] Slots => Context!.Slots;
    internal RunOptions RunOptions => Context!.RunOptions;

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

    /// <summary>While <see cref="Next"/> is -1: the prefix step to run next (<see cref="A1Engine.PrefixSteps"/> in all).</summary>
    internal int PrefixStage;

    /// <summary>
    /// A flow-matching head at <see cref="Next"/> under way across steps (<see cref="A1Engine.ExpertLayersPerStep"/>): the
    /// rows it serves (a prefix of the batch), its denoising passes, the pass running and that pass's next expert layer
    /// (-1: its suffix first), and its time so far. The batch joins no other meanwhile.
    /// </summary>
    internal bool HeadPending;
    internal int HeadRows;
    internal int HeadPasses;
    internal int HeadPass;
    internal int HeadExpert;
    internal long HeadTicks;

    /// <summary>Rows answered while the head was under way (a guest left) wait for its exit test to leave the batch.</summary>
    internal bool CompactAfterHead;
    internal int Deepest;
    internal int RemainingDeepest;

    /// <summary>The batch this one's rows joined (<see cref="TryJoin"/>); it steps them from then on.</summary>
    internal EngineBatch? JoinedInto;

    /// <summary>After joining another: rows not yet answered (the batch completes when the last is).</summary>
    internal int Outstanding;

    /// <summary>Batches joined into this one and not completed: a batch with guests joins no other (its guests' rows would lose their host).</summary>
    internal int Guests;

    /// <summary>Begun and not disposed.</summary>
    internal bool InUse;
    internal bool Completed;

    public bool IsCompleted => Completed;

    public InferenceResult[] Results => ResultSlots;

    public int RemainingSteps => Completed ? 0 : _engine.RemainingSteps(this);

    public int NextLayer => Next;

    public int StepsUntil(int layer) => _engine.StepsUntil(this, layer);

    public int Rows => Completed ? 0 : Active;

    public bool Step() => _engine.Step(this);

    public bool TryJoin(ISteppedBatch other) => other is EngineBatch batch && _engine.Join(this, batch);

    public bool Joinable => InUse && !Completed && JoinedInto is null && Active > 0 && EarlyExitRows == Active;

    public bool HasGuests => Guests > 0;

    public void Dispose() => _engine.End(this);
}

/// <summary>
/// One set of working buffers, bindings (told apart by <see cref="EngineBuffers.Slot"/>) and row states, pooled by the
/// engine: a batch runs on one from its first step until it completes, is disposed, or joins another.
/// </summary>
internal sealed class BatchContext(ModelDims dims, int maxBatch, int slot)
{
    public EngineBuffers Buffers { get; } = new(dims, maxBatch, slot);
    public RowState[] RowPool { get; } = Enumerable.Range(0, maxBatch).Select(_ => new RowState(dims)).ToArray();
    public RowState[] Slots { get; } = new RowState[maxBatch];
    public RunOptions RunOptions { get; } = new();

    /// <summary>Lent to a batch.</summary>
    public bool InUse;

    /// <summary>One of the engine's <see cref="EngineOptions.MaxBatchesInFlight"/> (false: borrowed for one whole run, disposed after it).</summary>
    public bool Pooled = true;

    public void DisposeBuffers()
    {
        Buffers.Dispose();
        RunOptions.Dispose();
    }
}
