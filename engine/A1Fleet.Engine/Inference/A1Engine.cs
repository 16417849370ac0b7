using System.Diagnostics;
using A1Fleet.EarlyExit;
using A1Fleet.Engine.Onnx;
using A1Fleet.Engine.Preprocessing;
using A1Fleet.ModelFormat;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// Runs one model package with A1's adaptive inference: the language model layer by layer over a
/// batch, the head at the exit layers, each request leaving the batch at its own exit while the
/// rest continue. <see cref="Run"/> runs a whole batch; <see cref="Begin"/> starts one that the caller advances a
/// step (one LM layer) at a time, so one thread can interleave several batches (at most
/// <see cref="EngineOptions.MaxBatchesInFlight"/>, each on its own pooled buffers and bindings). Calls serialise on
/// one gate: a step or a whole run at a time (callers queue batches; see the silo's inference service).
/// </summary>
public sealed partial class A1Engine : IDisposable
{
    private const float MaskedBias = -1e9f;

    private readonly Lock _gate = new();
    private readonly SessionOptions _sessionOptions;
    private readonly ModelDims _dims;
    private readonly Normalizer _stateNormalizer;
    private readonly Normalizer _actionNormalizer;
    private readonly WordTokenizer _tokenizer;
    private readonly bool[] _isPaddingDim;
    private readonly int[] _validDims;
    private readonly int[] _exitLayers;
    private readonly int[] _exitIndexOfLayer;
    private readonly EngineGraphs _graphs;
    private readonly List<BatchContext> _contexts = [];
    private readonly Stack<BatchContext> _free = new();
    private readonly DiscrepancyMetric _defaultMetric;
    private bool _disposed;

    private A1Engine(ModelPackage package, EngineOptions options)
    {
        Package = package;
        Options = options;
        _expertLayersPerStep = options.ExpertLayersPerStep ?? 0;
        var m = package.Manifest;
        _dims = ModelDims.From(m);
        _stateNormalizer = new Normalizer(m.State.Q01, m.State.Q99);
        _actionNormalizer = new Normalizer(m.Action.Q01, m.Action.Q99);
        _tokenizer = new WordTokenizer(m.Tokenizer);
        _isPaddingDim = new bool[_dims.ActionDim];
        foreach (var d in m.Action.PaddingDims)
        {
            _isPaddingDim[d] = true;
        }

        _validDims = Enumerable.Range(0, _dims.ActionDim).Where(d => !_isPaddingDim[d]).ToArray();
        _exitLayers = [.. m.Exits.Layers];
        _exitIndexOfLayer = Enumerable.Repeat(-1, _dims.Layers).ToArray();
        for (var i = 0; i < _exitLayers.Length; i++)
        {
            _exitIndexOfLayer[_exitLayers[i]] = i;
        }

        _defaultMetric = DiscrepancyMetrics.Parse(m.Defaults.Metric);
        _sessionOptions = OrtRuntime.CreateSessionOptions(options);
        _graphs = EngineGraphs.Load(package, _dims, _sessionOptions, options.InputsCopiedAtBind);
        // The first set of buffers now (a whole-batch run and MeasureParts need one); the others when first in flight.
        _free.Push(NewContext(pooled: true));
    }

    public ModelPackage Package { get; }
    public ModelManifest Manifest => Package.Manifest;
    public EngineOptions Options { get; }
    public string ModelId => Manifest.ModelId;
    public IReadOnlyList<int> ExitLayers => _exitLayers;
    public int Layers => _dims.Layers;
    public int ValidActionDims => _validDims.Length;

    /// <summary>The model's action dims that are not padding, ascending (the dims a result carries).</summary>
    internal IReadOnlyList<int> ValidDims => _validDims;
    public bool IsFlowMatching => _dims.IsFlowMatching;
    public int MaxBatchSize => Options.MaxBatchSize;

    /// <summary>Most batches in flight at once (<see cref="EngineOptions.MaxBatchesInFlight"/>).</summary>
    public int MaxBatchesInFlight => Options.MaxBatchesInFlight;

    /// <summary>
    /// Threads of ONNX Runtime's process-wide intra-op pool, which this engine's graphs run on; 0: ONNX Runtime's default
    /// (one per physical core of the machine). The first engine loaded in a process sized it: <see cref="EngineOptions.IntraOpThreads"/>
    /// of later ones does not change it.
    /// </summary>
    public static int IntraOpThreads => Onnx.OrtRuntime.IntraOpThreads ?? 0;

    /// <summary>
    /// How many expert layers of a flow-matching head's denoising pass run in one step (<see cref="ISteppedBatch.Step"/>);
    /// 0: the head runs whole, in its layer's step. <see cref="EngineOptions.ExpertLayersPerStep"/>, or when that is not
    /// set, from <see cref="WarmUp"/>'s prices: as many as take about one LM layer, so that a batch arriving while another's
    /// head runs waits about one layer (at the deepest exit of small-fm the whole head took about three LM layers). The
    /// answers do not depend on it: the same graphs run in the same order, split between steps.
    /// </summary>
    public int ExpertLayersPerStep => _expertLayersPerStep;

    private int _expertLayersPerStep;

    /// <summary>Batches begun and not yet disposed.</summary>
    public int BatchesInFlight
    {
        get
        {
            lock (_gate)
            {
                return _contexts.Count(c => c.InUse);
            }
        }
    }

    /// <summary>Loads and checks every graph against the manifest; errors name the file and the mismatch.</summary>
    public static A1Engine Load(string packageDirectory, EngineOptions? options = null)
    {
        options ??= new EngineOptions();
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid engine options: " + string.Join(" ", errors), nameof(options));
        }

        var package = ModelPackage.Open(packageDirectory);
        OrtRuntime.EnsureEnvironment(options.IntraOpThreads);
        return new A1Engine(package, options);
    }

    /// <summary>
    /// Runs a batch. Invalid requests get an error result and do not disturb the others; requests
    /// beyond <see cref="MaxBatchSize"/> run in further batches. <paramref name="onResult"/>, if given,
    /// hears of each request the moment it leaves the batch, so a caller can answer early exits
    /// without waiting for the deepest request (it runs on the calling thread: keep it short).
    /// The steps of <see cref="Begin"/> and this, one after the other, give exactly the same results.
    /// </summary>
    public InferenceResult[] Run(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null, CancellationToken cancellationToken = default)
    {
        var results = new InferenceResult[requests.Count];
        lock (_gate)
        {
            for (var start = 0; start < requests.Count; start += MaxBatchSize)
            {
                var count = Math.Min(MaxBatchSize, requests.Count - start);
                // A whole run does not count against the in-flight bound: with every pooled set in flight it borrows a
                // set of its own for the run (calibration on a busy device; rare).
                var batch = Open(Rent() ?? NewContext(pooled: false));
                try
                {
                    BeginChunk(batch, requests, start, count, results, statistics, onResult, cancellationToken);
                    while (!StepLocked(batch))
                    {
                    }
                }
                finally
                {
                    EndLocked(batch);
                }
            }
        }

        return results;
    }

    /// <summary>
    /// Starts a batch of at most <see cref="MaxBatchSize"/> requests that the caller advances with
    /// <see cref="ISteppedBatch.Step"/> and disposes when done with it. Validation happens here (an invalid request
    /// is answered at once and does not disturb the others); no graph runs until the first step.
    /// <paramref name="onResult"/> runs on the stepping thread as each request leaves the batch.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="MaxBatchesInFlight"/> batches are in flight (see <see cref="CanBegin"/>).</exception>
    public EngineBatch Begin(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null, CancellationToken cancellationToken = default)
    {
        if (requests.Count > MaxBatchSize)
        {
            throw new ArgumentException($"a stepped batch carries at most {MaxBatchSize} requests (EngineOptions.MaxBatchSize), got {requests.Count}", nameof(requests));
        }

        lock (_gate)
        {
            var batch = Open(Rent() ?? throw new InvalidOperationException(
                $"model '{ModelId}' already has {MaxBatchesInFlight} batches in flight (EngineOptions.MaxBatchesInFlight): finish or dispose one first"));
            BeginChunk(batch, requests, 0, requests.Count, new InferenceResult[requests.Count], statistics, onResult, cancellationToken);
            return batch;
        }
    }

    /// <summary>Whether <see cref="Begin"/> would find a free set of buffers (fewer than <see cref="MaxBatchesInFlight"/> in flight).</summary>
    public bool CanBegin
    {
        get
        {
            lock (_gate)
            {
                return _free.Count > 0 || _contexts.Count < MaxBatchesInFlight;
            }
        }
    }

    internal bool Step(EngineBatch batch)
    {
        lock (_gate)
        {
            if (!batch.InUse)
            {
                throw new ObjectDisposedException(nameof(EngineBatch), "the batch was disposed; its buffers belong to the engine again");
            }

            return StepLocked(batch);
        }
    }

    internal void End(EngineBatch batch)
    {
        lock (_gate)
        {
            EndLocked(batch);
        }
    }

    private BatchContext? Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.Count == 0 && _contexts.Count < MaxBatchesInFlight)
        {
            _free.Push(NewContext(pooled: true));
        }

        if (!_free.TryPop(out var context))
        {
            return null;
        }

        context.InUse = true;
        return context;
    }

    private EngineBatch Open(BatchContext context) => new(this, context) { InUse = true, Completed = true };

    private BatchContext NewContext(bool pooled)
    {
        var context = new BatchContext(_dims, Options.MaxBatchSize, pooled ? _contexts.Count : MaxBatchesInFlight) { Pooled = pooled, InUse = !pooled };
        if (pooled)
        {
            _contexts.Add(context);
        }

        return context;
    }

    /// <summary>A context is free again (its batch ended or joined another): back to the pool, or gone if it was borrowed.</summary>
    private void Release(BatchContext context)
    {
        context.InUse = false;
        foreach (var row in context.RowPool)
        {
            row.Source = null;
            row.Owner = null;
        }

        if (context.Pooled && !_disposed)
        {
            _free.Push(context);
        }
        else if (!context.Pooled)
        {
            // A borrowed set (see Run) leaves with its bindings: the graphs cache them per key, so they go too.
            _graphs.ForgetBindings(context.Buffers);
            context.DisposeBuffers();
        }
    }

    private void EndLocked(EngineBatch batch)
    {
        if (!batch.InUse)
        {
            return;
        }

        if (!batch.Completed && batch.JoinedInto is { } host)
        {
            LeaveJoined(host, batch);
        }

        if (!batch.Completed)
        {
            for (var r = 0; r < batch.Active; r++)
            {
                Publish(batch.Slots[r], InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was abandoned before this request finished"));
            }

            Finish(batch);
        }

        batch.JoinedInto = null;
        batch.InUse = false;
        batch.OnResult = null;
        batch.Requests = [];
        batch.Statistics = null;
        if (batch.Context is { } context)
        {
            batch.Context = null;
            Release(context);
        }
    }

    private void BeginChunk(EngineBatch b, IReadOnlyList<InferenceRequest> requests, int start, int count, InferenceResult[] results, BatchStatistics? stats,
        Action<int, InferenceResult>? onResult, CancellationToken ct)
    {
        var begun = Stopwatch.GetTimestamp();
        b.Requests = requests;
        b.Start = start;
        b.Count = count;
        b.ResultSlots = results;
        b.OnResult = onResult;
        b.Statistics = stats;
        b.CancellationToken = ct;
        b.FirstStepTicks = 0;
        b.BusyTicks = 0;
        b.OrtTicks = 0;
        b.Next = -1;
        b.PrefixStage = 0;
        b.HeadPending = false;
        b.CompactAfterHead = false;
        b.Completed = false;
        b.JoinedInto = null;
        b.Outstanding = 0;
        b.Guests = 0;
        var active = 0;
        for (var i = 0; i < count; i++)
        {
            var row = b.RowPool[active];
            row.Owner = b;
            var error = Prepare(requests[start + i], start + i, row);
            if (error is not null)
            {
                Publish(b, start + i, InferenceResult.Failure(InferenceErrorKind.InvalidInput, error));
                continue;
            }

            b.Slots[active++] = row;
        }

        b.Active = active;
        if (active == 0)
        {
            b.Completed = true;
            return;
        }

        // Early-exit rows first, then full-depth rows by final layer: whoever needs the head at a
        // layer is then always a prefix of the batch, and the graphs run on a prefix view.
        Array.Sort(b.Slots, 0, active, RowOrder.Instance);
        var earlyExitRows = 0;
        while (earlyExitRows < active && b.Slots[earlyExitRows].EarlyExit)
        {
            earlyExitRows++;
        }

        b.EarlyExitRows = earlyExitRows;
        b.Deepest = DeepestFinalLayer(b);
        b.RemainingDeepest = b.Deepest;
        b.Registration = ct.CanBeCanceled ? ct.Register(static o => ((RunOptions)o!).Terminate = true, b.RunOptions) : default;
        b.BusyTicks = Stopwatch.GetTimestamp() - begun;
    }

    /// <summary>Runs the next step of <paramref name="b"/> (the caller holds the gate); returns whether it completed.</summary>
    private bool StepLocked(EngineBatch b)
    {
        if (b.Completed || b.JoinedInto is not null)
        {
            // Joined: its rows run in the other batch's steps.
            return b.Completed;
        }

        var t0 = Stopwatch.GetTimestamp();
        if (b.FirstStepTicks == 0)
        {
            // A request's time in the engine runs from its batch's first step: the wait before it is queueing.
            b.FirstStepTicks = t0;
        }

        var ct = b.CancellationToken;
        // Finished only once this step's time is in the batch's: the statistics of a batch that missed its last step
        // taught the silo's cost model batches shorter than they were (a first exit's last step is a third of it).
        var finished = false;
        try
        {
            ct.ThrowIfCancellationRequested();
            if (b.Next < 0)
            {
                RunPrefixStep(b);
            }
            else
            {
                if (RunLayer(b, b.Next))
                {
                    b.Next++;
                }
            }

            finished = b.Active == 0 || b.Next > b.Deepest;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or OperationCanceledException)
        {
            var canceled = ct.IsCancellationRequested;
            for (var r = 0; r < b.Active; r++)
            {
                if (b.Slots[r].Done)
                {
                    // Answered already: a guest that left while this batch's head was under way (LeaveJoined).
                    continue;
                }

                Publish(b.Slots[r], canceled
                    ? InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was canceled")
                    : InferenceResult.Failure(InferenceErrorKind.Failed, $"ONNX Runtime failed: {ex.Message}"));
            }

            b.Active = 0;
            finished = true;
            if (canceled)
            {
                throw new OperationCanceledException("inference batch canceled", ex, ct);
            }
        }
        finally
        {
            b.BusyTicks += Stopwatch.GetTimestamp() - t0;
            if (finished)
            {
                Finish(b);
            }
        }

        return b.Completed;
    }

    /// <summary>
    /// The whole prefix, or the next of its stages (<see cref="EngineGraphs.PrefixStages"/>): a batch arriving while
    /// this one's prefix runs waits for one stage, not for all of it. The rows are the same through every stage.
    /// </summary>
    private void RunPrefixStep(EngineBatch b)
    {
        var stages = _graphs.PrefixStages;
        if (b.PrefixStage == 0)
        {
            for (var r = 0; r < b.Active; r++)
            {
                FillInputs(b, r, b.Slots[r]);
            }
        }

        var p0 = Stopwatch.GetTimestamp();
        if (stages.Length == 0)
        {
            RunGraph(b, _graphs.Prefix, _graphs.PrefixBinding(b.Buffers, b.Active));
        }
        else
        {
            RunGraph(b, stages[b.PrefixStage], _graphs.PrefixStageBinding(b.Buffers, b.PrefixStage, b.Active));
        }

        var prefixTicks = Stopwatch.GetTimestamp() - p0;
        for (var r = 0; r < b.Active; r++)
        {
            b.Slots[r].PrefixTicks += prefixTicks;
        }

        if (++b.PrefixStage >= PrefixSteps)
        {
            b.Next = 0;
        }
    }

    private static void Finish(EngineBatch b)
    {
        // Unregister first (Dispose waits for a callback already running): a cancel that lands after the
        // reset would otherwise leave Terminate set and fail the next batch on these buffers.
        b.Registration.Dispose();
        b.Registration = default;
        if (b.Context is { } context)
        {
            context.RunOptions.Terminate = false;
        }

        b.Completed = true;
        if (b.Statistics is { } stats)
        {
            stats.Requests += b.Count;
            stats.OrtMs += TicksToMs(b.OrtTicks);
            stats.TotalMs += TicksToMs(b.BusyTicks);
        }
    }

    /// <summary>Steps <paramref name="b"/> still runs at most: what is left of the prefix, of a head under way, and every layer to its deepest row's with the heads that may run there.</summary>
    internal int RemainingSteps(EngineBatch b) => StepsBefore(b, b.RemainingDeepest + 1);

    /// <summary>Steps before the next one of <paramref name="b"/> is LM layer <paramref name="layer"/> (negative: past it).</summary>
    internal int StepsUntil(EngineBatch b, int layer) => b.Next >= 0 && layer < b.Next ? layer - b.Next : StepsBefore(b, layer);

    private int StepsBefore(EngineBatch b, int layer)
    {
        // Past the last layer there is nothing more to count.
        layer = Math.Min(layer, _dims.Layers);
        var steps = b.Next < 0 ? PrefixSteps - b.PrefixStage : 0;
        var from = Math.Max(b.Next, 0);
        var passes = 0;
        for (var r = 0; r < b.Active; r++)
        {
            passes = Math.Max(passes, b.Slots[r].Steps);
        }

        if (b.HeadPending)
        {
            var done = b.HeadExpert < 0 ? 0 : (b.HeadExpert + _expertLayersPerStep - 1) / _expertLayersPerStep;
            steps += ((b.HeadPasses - b.HeadPass) * HeadChunks(b.Next)) - done;
            from = b.Next + 1;
        }

        for (var l = from; l < layer; l++)
        {
            steps += 1 + (HeadRunsAt(l) ? passes * HeadChunks(l) : 0);
        }

        return Math.Max(0, steps);
    }

    /// <summary>Whether a head may run at <paramref name="layer"/> in steps of its own (an exit or the first exit's reference, with the head split).</summary>
    private bool HeadRunsAt(int layer) => _expertLayersPerStep > 0 && _dims.IsFlowMatching && (_exitIndexOfLayer[layer] >= 0 || layer == _exitLayers[0] - 1);

    /// <summary>Steps one denoising pass takes at exit <paramref name="layer"/> (expert layers 0..layer).</summary>
    private int HeadChunks(int layer) => (layer + _expertLayersPerStep) / _expertLayersPerStep;

    /// <summary>
    /// One step at <paramref name="layer"/>: LM block <paramref name="layer"/> over the rows still in the batch, and the
    /// head where that layer needs it with the exit test. The FM expert at exit l attends to block l's K/V, so the block
    /// runs first. The MLP head at exit l reads the stream entering block l (A1's convention), so the head runs first and
    /// the block only for the rows that go deeper: a request that exits at l runs l blocks, and the last block never runs.
    /// </summary>
    /// <returns>Whether layer <paramref name="layer"/> is done (false: a flow-matching head there is still under way, <see cref="ExpertLayersPerStep"/>).</returns>
    private bool RunLayer(EngineBatch b, int layer)
    {
        if (_dims.IsFlowMatching)
        {
            if (b.HeadPending)
            {
                return ContinueHead(b);
            }

            RunBlock(b, layer);
            if (_expertLayersPerStep == 0)
            {
                RunHeadAndExitTest(b, layer, streamLayer: layer);
                return true;
            }

            // The head in steps of its own after the block's: a batch arriving meanwhile waits for one of them.
            var headRows = HeadRowsAt(b, layer);
            if (headRows == 0)
            {
                return true;
            }

            if (b.Statistics is { } stats)
            {
                stats.HeadRuns++;
            }

            var t0 = Stopwatch.GetTimestamp();
            b.HeadRows = headRows;
            b.HeadPasses = BeginDenoising(b, layer, headRows);
            b.HeadPass = 0;
            b.HeadExpert = -1;
            b.HeadPending = true;
            b.HeadTicks = Stopwatch.GetTimestamp() - t0;
            return b.HeadPasses == 0 && ContinueHead(b);
        }

        RunHeadAndExitTest(b, layer, streamLayer: layer - 1);
        if (b.Active > 0)
        {
            RunBlock(b, layer);
        }

        return true;
    }

    /// <summary>
    /// The next part of the head under way at <see cref="EngineBatch.Next"/>: up to <see cref="ExpertLayersPerStep"/>
    /// expert layers of the denoising pass running (with its suffix before, its output and Euler step after), and the
    /// exit test once the last pass is done. Returns whether the layer is done.
    /// </summary>
    private bool ContinueHead(EngineBatch b)
    {
        var layer = b.Next;
        var t0 = Stopwatch.GetTimestamp();
        if (b.HeadPass < b.HeadPasses && RunDenoisingPart(b, layer, b.HeadRows, b.HeadPass, ref b.HeadExpert, _expertLayersPerStep))
        {
            b.HeadPass++;
            b.HeadExpert = -1;
        }

        b.HeadTicks += Stopwatch.GetTimestamp() - t0;
        if (b.HeadPass < b.HeadPasses)
        {
            return false;
        }

        b.HeadPending = false;
        ExitTest(b, layer, b.HeadRows, b.Buffers.NoisyActions, b.HeadTicks, streamLayer: layer);
        return true;
    }

    private void RunBlock(EngineBatch b, int layer)
    {
        var slots = b.Slots;
        var stats = b.Statistics;
        var active = b.Active;
        var t0 = Stopwatch.GetTimestamp();
        RunGraph(b, _graphs.LanguageModel[layer], _graphs.LanguageModelBinding(b.Buffers, layer, active));
        var lmTicks = Stopwatch.GetTimestamp() - t0;
        for (var r = 0; r < active; r++)
        {
            slots[r].LmTicks += lmTicks;
            slots[r].LayersRun++;
        }

        if (stats is not null)
        {
            stats.LanguageModelLayerRuns++;
            stats.LanguageModelRowLayers += active;
        }
    }

    /// <param name="streamLayer">The layer whose output is the live residual stream (-1: the prefix embeddings): finished rows are compacted out of it.</param>
    private void RunHeadAndExitTest(EngineBatch b, int layer, int streamLayer)
    {
        var headRows = HeadRowsAt(b, layer);
        if (headRows == 0)
        {
            return;
        }

        var t0 = Stopwatch.GetTimestamp();
        var headOutput = RunHead(b, layer, headRows);
        ExitTest(b, layer, headRows, headOutput, Stopwatch.GetTimestamp() - t0, streamLayer);
    }

    /// <summary>How many rows (a prefix of the batch) need the head at <paramref name="layer"/>: the early-exit rows at an exit (or the first exit's reference), and the full-depth rows that end there.</summary>
    private int HeadRowsAt(EngineBatch b, int layer)
    {
        var slots = b.Slots;
        var active = b.Active;
        var earlyExitRows = b.EarlyExitRows;
        var referenceLayer = _exitLayers[0] - 1;
        var headRows = _exitIndexOfLayer[layer] >= 0 || layer == referenceLayer ? earlyExitRows : 0;
        var finishing = 0;
        while (earlyExitRows + finishing < active && slots[earlyExitRows + finishing].FinalLayer == layer)
        {
            finishing++;
        }

        return finishing > 0 ? earlyExitRows + finishing : headRows;
    }

    /// <summary>The exit test at <paramref name="layer"/> on the head's output for the first <paramref name="headRows"/> rows: rows that are done answer and leave the batch.</summary>
    private void ExitTest(EngineBatch b, int layer, int headRows, TensorBuffer<float> headOutput, long headTicks, int streamLayer)
    {
        var slots = b.Slots;
        var referenceLayer = _exitLayers[0] - 1;
        // Rows a guest took with it while the head was under way (LeaveJoined) answered already; they leave now.
        var anyDone = b.CompactAfterHead;
        b.CompactAfterHead = false;
        for (var r = 0; r < headRows; r++)
        {
            var row = slots[r];
            if (row.Done)
            {
                continue;
            }

            row.HeadTicks += headTicks;
            row.HeadCalls++;
            var action = headOutput.Row(r);
            if (row.EarlyExit && layer == referenceLayer)
            {
                action.CopyTo(row.Previous);
                row.HasPrevious = true;
                continue;
            }

            var done = !row.EarlyExit || layer == row.FinalLayer;
            if (row.EarlyExit)
            {
                var exitIndex = _exitIndexOfLayer[layer];
                var d = DiscrepancyMetrics.ChunkDiscrepancy(row.Metric, action, row.Previous, _dims.Chunk, _dims.ActionDim, _isPaddingDim);
                if (row.Discrepancies is not null)
                {
                    row.Discrepancies[exitIndex] = d;
                }

                if (!done && !row.RecordOnly && d <= row.Thresholds![exitIndex])
                {
                    done = true;
                }
                else if (done && layer < _dims.Layers - 1)
                {
                    row.StoppedAtCap = true;
                }
            }
            else if (layer < _dims.Layers - 1)
            {
                row.StoppedAtCap = true;
            }

            action.CopyTo(row.Previous);
            row.HasPrevious = true;
            if (done)
            {
                row.Done = true;
                row.ExitLayer = layer;
                anyDone = true;
                Publish(row, Complete(row, row.Owner!.FirstStepTicks));
            }
        }

        if (anyDone)
        {
            Compact(b, streamLayer);
            b.RemainingDeepest = DeepestFinalLayer(b);
        }
    }

    private TensorBuffer<float> RunHead(EngineBatch b, int layer, int rows)
    {
        var stats = b.Statistics;
        var buffers = b.Buffers;
        var slots = b.Slots;
        if (stats is not null)
        {
            stats.HeadRuns++;
        }

        if (!_dims.IsFlowMatching)
        {
            RunGraph(b, _graphs.MlpHead!, _graphs.MlpHeadBinding(buffers, layer, rows));
            return buffers.HeadActions;
        }

        var passes = BeginDenoising(b, layer, rows);
        for (var pass = 0; pass < passes; pass++)
        {
            var expert = -1;
            RunDenoisingPart(b, layer, rows, pass, ref expert, int.MaxValue);
        }

        return buffers.NoisyActions;
    }

    /// <summary>The flow-matching head's start at exit <paramref name="layer"/>: each row's action from noise, or warm from its previous exit's. Returns the denoising passes to run (the rows' most).</summary>
    private static int BeginDenoising(EngineBatch b, int layer, int rows)
    {
        var slots = b.Slots;
        var x = b.Buffers.NoisyActions;
        var maxSteps = 0;
        for (var r = 0; r < rows; r++)
        {
            var row = slots[r];
            if (row.WarmStart && row.HasPrevious)
            {
                row.Previous.CopyTo(x.Row(r));
            }
            else
            {
                GaussianNoise.Fill(x.Row(r), row.Seed, layer);
            }

            maxSteps = Math.Max(maxSteps, row.Steps);
        }

        return maxSteps;
    }

    /// <summary>
    /// Part of denoising pass <paramref name="step"/> at exit <paramref name="layer"/>: its suffix first (when
    /// <paramref name="expert"/> is -1), then up to <paramref name="maxExpertLayers"/> expert layers from
    /// <paramref name="expert"/> on, and after the last (<paramref name="layer"/>) the output and each row's Euler step.
    /// Returns whether the pass is done; <paramref name="expert"/> is the next expert layer to run.
    /// </summary>
    private bool RunDenoisingPart(EngineBatch b, int layer, int rows, int step, ref int expert, int maxExpertLayers)
    {
        var stats = b.Statistics;
        var buffers = b.Buffers;
        var slots = b.Slots;
        var x = buffers.NoisyActions;

        // Flow convention: t = 1 is noise, t = 0 the action; Euler with dt = -1/K. Rows with fewer
        // steps than the batch's largest idle through the extra iterations unchanged.
        if (expert < 0)
        {
            var time = buffers.Time.Data;
            for (var r = 0; r < rows; r++)
            {
                var k = slots[r].Steps;
                time[r] = step < k ? 1f - ((float)step / k) : 0f;
            }

            RunGraph(b, _graphs.ExpertSuffix!, _graphs.ExpertSuffixBinding(buffers, rows));
            expert = 0;
        }

        var end = (int)Math.Min(layer + 1L, (long)expert + maxExpertLayers);
        for (; expert < end; expert++)
        {
            RunGraph(b, _graphs.ExpertLayers[expert], _graphs.ExpertLayerBinding(buffers, expert, rows));
        }

        if (expert <= layer)
        {
            return false;
        }

        RunGraph(b, _graphs.ExpertOutput!, _graphs.ExpertOutputBinding(buffers, layer + 1, rows));
        if (stats is not null)
        {
            stats.ExpertLayerRuns += layer + 1;
        }

        var velocity = buffers.Velocity;
        for (var r = 0; r < rows; r++)
        {
            var row = slots[r];
            if (step >= row.Steps)
            {
                continue;
            }

            var dt = -1f / row.Steps;
            var xr = x.Row(r);
            var vr = velocity.Row(r);
            for (var i = 0; i < xr.Length; i++)
            {
                xr[i] += dt * vr[i];
            }

            row.DenoisingSteps++;
            row.ExpertLayerSteps += layer + 1;
        }

        return true;
    }

    private static void RunGraph(EngineBatch b, OnnxGraph graph, OrtIoBinding binding)
    {
        var t0 = Stopwatch.GetTimestamp();
        graph.Run(b.RunOptions, binding);
        b.OrtTicks += Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>Removes finished rows. Early-exit rows fill holes from the end of their region
    /// (one row move per exit); full-depth rows keep their order, which the prefix rule needs.
    /// <paramref name="streamLayer"/>: the layer whose output is the live stream (FM: also the deepest K/V to move).</summary>
    private void Compact(EngineBatch b, int streamLayer)
    {
        var slots = b.Slots;
        var active = b.Active;
        var earlyExitRows = b.EarlyExitRows;
        var last = earlyExitRows - 1;
        var i = 0;
        while (i <= last)
        {
            if (!slots[i].Done)
            {
                i++;
                continue;
            }

            while (last > i && slots[last].Done)
            {
                last--;
            }

            if (last == i)
            {
                last--;
                break;
            }

            MoveRow(b.Buffers, last, i, streamLayer);
            (slots[i], slots[last]) = (slots[last], slots[i]);
            last--;
            i++;
        }

        var write = last + 1;
        var keptEarlyExit = write;
        for (var r = earlyExitRows; r < active; r++)
        {
            if (slots[r].Done)
            {
                continue;
            }

            MoveRow(b.Buffers, r, write, streamLayer);
            (slots[write], slots[r]) = (slots[r], slots[write]);
            write++;
        }

        b.EarlyExitRows = keptEarlyExit;
        b.Active = write;
    }

    private void MoveRow(EngineBuffers buffers, int from, int to, int layer)
    {
        if (from != to)
        {
            CopyRow(buffers, from, buffers, to, layer);
        }
    }

    /// <summary>Everything a row still needs after <paramref name="layer"/> has run (the stream, its inputs the heads read, FM: every K/V so far).</summary>
    private void CopyRow(EngineBuffers source, int from, EngineBuffers target, int to, int layer)
    {
        source.HiddenAfter(layer).Row(from).CopyTo(target.HiddenAfter(layer).Row(to));
        source.State.Row(from).CopyTo(target.State.Row(to));
        source.AttentionBias.Row(from).CopyTo(target.AttentionBias.Row(to));
        if (_dims.IsFlowMatching)
        {
            for (var l = 0; l <= layer; l++)
            {
                source.Keys[l].Row(from).CopyTo(target.Keys[l].Row(to));
                source.Values[l].Row(from).CopyTo(target.Values[l].Row(to));
            }
        }
    }

    /// <summary>
    /// Moves <paramref name="from"/>'s rows to the end of <paramref name="into"/> (see <see cref="ISteppedBatch.TryJoin"/>).
    /// Both stand between two steps at the same layer, so the live stream and every K/V a later head reads are at the
    /// same places; rows that all decide by the exit test need no order among them (full-depth rows do, by final layer).
    /// </summary>
    internal bool Join(EngineBatch into, EngineBatch from)
    {
        lock (_gate)
        {
            if (ReferenceEquals(into, from) || !into.InUse || !from.InUse || into.Completed || from.Completed
                || into.JoinedInto is not null || from.JoinedInto is not null || from.Guests > 0 || into.Next < 0 || into.Next != from.Next
                || into.HeadPending || from.HeadPending
                || into.EarlyExitRows != into.Active || from.EarlyExitRows != from.Active || into.Active + from.Active > Options.MaxBatchSize)
            {
                return false;
            }

            var t0 = Stopwatch.GetTimestamp();
            var streamLayer = into.Next - 1;
            var free = 0;
            for (var r = 0; r < from.Active; r++)
            {
                CopyRow(from.Buffers, r, into.Buffers, into.Active + r, streamLayer);
                // The row's state moves to a row state of the host's own: the guest's context goes back to the pool now.
                var state = NextFreeRowState(into, ref free);
                state.CopyFrom(from.Slots[r]);
                into.Slots[into.Active + r] = state;
            }

            into.Active += from.Active;
            into.EarlyExitRows += from.Active;
            into.Deepest = Math.Max(into.Deepest, from.RemainingDeepest);
            into.RemainingDeepest = Math.Max(into.RemainingDeepest, from.RemainingDeepest);
            from.Outstanding = from.Active;
            from.Active = 0;
            from.EarlyExitRows = 0;
            from.JoinedInto = into;
            into.Guests++;
            into.Statistics?.Joined = true;
            from.Statistics?.Joined = true;
            // Its cancellation would stop the runs of whichever batch takes its context next.
            from.Registration.Dispose();
            from.Registration = default;
            var context = from.Context!;
            from.Context = null;
            Release(context);
            into.BusyTicks += Stopwatch.GetTimestamp() - t0;
            return true;
        }
    }

    /// <summary>The deepest layer a row still in <paramref name="b"/> may run to (0 when none is).</summary>
    private static int DeepestFinalLayer(EngineBatch b)
    {
        var deepest = 0;
        for (var r = 0; r < b.Active; r++)
        {
            deepest = Math.Max(deepest, b.Slots[r].FinalLayer);
        }

        return deepest;
    }

    /// <summary>A row state of <paramref name="batch"/>'s pool that none of its active rows uses, searching from <paramref name="from"/> on.</summary>
    private static RowState NextFreeRowState(EngineBatch batch, ref int from)
    {
        var pool = batch.RowPool;
        for (; from < pool.Length; from++)
        {
            var candidate = pool[from];
            if (Array.IndexOf(batch.Slots, candidate, 0, batch.Active) < 0)
            {
                return pool[from++];
            }
        }

        throw new InvalidOperationException("no free row state although the joined batch fits the largest batch");
    }

    /// <summary>A joined batch is disposed before its rows finished: they are answered canceled and leave the batch running them.</summary>
    private void LeaveJoined(EngineBatch host, EngineBatch joined)
    {
        if (host.InUse && !host.Completed)
        {
            for (var r = 0; r < host.Active; r++)
            {
                var row = host.Slots[r];
                if (ReferenceEquals(row.Owner, joined))
                {
                    row.Done = true;
                    Publish(row, InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was abandoned before this request finished"));
                }
            }

            if (host.HeadPending)
            {
                // The head under way holds its rows' actions by position: they leave after its exit test.
                host.CompactAfterHead = true;
            }
            else
            {
                Compact(host, host.Next - 1);
                host.RemainingDeepest = DeepestFinalLayer(host);
            }
        }

        if (!joined.Completed)
        {
            // Every row it had was in its host, and the host has answered them all (a host ends only so).
            Finish(joined);
            host.Guests--;
        }
    }

    private InferenceResult Complete(RowState row, long batchStart)
    {
        var chunk = _dims.Chunk;
        var valid = _validDims.Length;
        var actions = new float[chunk * valid];
        var finite = true;
        for (var h = 0; h < chunk; h++)
        {
            for (var v = 0; v < valid; v++)
            {
                var dim = _validDims[v];
                var value = row.Previous[(h * _dims.ActionDim) + dim];
                finite &= float.IsFinite(value);
                actions[(h * valid) + v] = _actionNormalizer.Denormalize(dim, value);
            }
        }

        if (!finite)
        {
            return InferenceResult.Failure(InferenceErrorKind.Failed, $"the model produced a non-finite action at layer {row.ExitLayer}");
        }

        var total = TicksToMs(Stopwatch.GetTimestamp() - batchStart);
        var prefix = TicksToMs(row.PrefixTicks);
        var lm = TicksToMs(row.LmTicks);
        var head = TicksToMs(row.HeadTicks);
        return new InferenceResult
        {
            Actions = actions,
            Chunk = chunk,
            ActionDim = valid,
            ExitLayer = row.ExitLayer,
            ExitIndex = _exitIndexOfLayer[row.ExitLayer],
            LayersRun = row.LayersRun,
            HeadCalls = row.HeadCalls,
            DenoisingSteps = row.DenoisingSteps,
            ExpertLayerSteps = row.ExpertLayerSteps,
            StoppedAtCap = row.StoppedAtCap,
            PrefixMs = prefix,
            LanguageModelMs = lm,
            HeadMs = head,
            BookkeepingMs = Math.Max(0, total - prefix - lm - head),
            TotalMs = total,
            Discrepancies = row.Discrepancies,
        };
    }

    private static void Publish(EngineBatch b, int index, InferenceResult result)
    {
        b.ResultSlots[index] = result;
        b.OnResult?.Invoke(index, result);
        if (b.JoinedInto is { } host && --b.Outstanding == 0)
        {
            Finish(b);
            host.Guests--;
        }
    }

    /// <summary>Answers a row through the batch it was submitted with, whichever batch it runs in.</summary>
    private static void Publish(RowState row, InferenceResult result) => Publish(row.Owner!, row.Request, result);

    private static double TicksToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var context in _contexts)
            {
                context.DisposeBuffers();
            }
        }

        _graphs.Dispose();
        _sessionOptions.Dispose();
    }

    private sealed class RowOrder : IComparer<RowState>
    {
        public static readonly RowOrder Instance = new();

        public int Compare(RowState? x, RowState? y)
        {
            if (x!.EarlyExit != y!.EarlyExit)
            {
                return x.EarlyExit ? -1 : 1;
            }

            // Ties keep submission order so batches are laid out reproducibly.
            var byLayer = x.EarlyExit ? 0 : x.FinalLayer.CompareTo(y.FinalLayer);
            return byLayer != 0 ? byLayer : x.Request.CompareTo(y.Request);
        }
    }
}
