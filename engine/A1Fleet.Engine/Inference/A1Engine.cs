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
/// rest continue. Not thread-safe by design: one batch at a time owns the preallocated buffers
/// (callers queue batches; see the silo's inference service).
/// </summary>
public sealed partial class A1Engine : IDisposable
{
    private const float MaskedBias = -1e9f;

    private readonly Lock _gate = new();
    private readonly RunOptions _runOptions = new();
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
    private readonly EngineBuffers _buffers;
    private readonly RowState[] _rowPool;
    private readonly RowState[] _slots;
    private readonly DiscrepancyMetric _defaultMetric;
    private long _ortTicks;
    private Action<int, InferenceResult>? _onResult;

    private A1Engine(ModelPackage package, EngineOptions options)
    {
        Package = package;
        Options = options;
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
        _buffers = new EngineBuffers(_dims, options.MaxBatchSize);
        _rowPool = Enumerable.Range(0, options.MaxBatchSize).Select(_ => new RowState(_dims)).ToArray();
        _slots = new RowState[options.MaxBatchSize];
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
    /// </summary>
    public InferenceResult[] Run(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null, CancellationToken cancellationToken = default)
    {
        var results = new InferenceResult[requests.Count];
        lock (_gate)
        {
            // Set under the gate: a caller waiting for it must not replace the callback of the batch that runs.
            _onResult = onResult;
            try
            {
                for (var start = 0; start < requests.Count; start += MaxBatchSize)
                {
                    var count = Math.Min(MaxBatchSize, requests.Count - start);
                    RunChunk(requests, start, count, results, statistics, cancellationToken);
                }
            }
            finally
            {
                _onResult = null;
            }
        }

        return results;
    }

    private void RunChunk(IReadOnlyList<InferenceRequest> requests, int start, int count, InferenceResult[] results, BatchStatistics? stats, CancellationToken ct)
    {
        var batchStart = Stopwatch.GetTimestamp();
        _ortTicks = 0;
        var active = 0;
        for (var i = 0; i < count; i++)
        {
            var row = _rowPool[active];
            var error = Prepare(requests[start + i], start + i, row);
            if (error is not null)
            {
                Publish(results, start + i, InferenceResult.Failure(InferenceErrorKind.InvalidInput, error));
                continue;
            }

            _slots[active++] = row;
        }

        if (active == 0)
        {
            return;
        }

        // Early-exit rows first, then full-depth rows by final layer: whoever needs the head at a
        // layer is then always a prefix of the batch, and the graphs run on a prefix view.
        Array.Sort(_slots, 0, active, RowOrder.Instance);
        var earlyExitRows = 0;
        while (earlyExitRows < active && _slots[earlyExitRows].EarlyExit)
        {
            earlyExitRows++;
        }

        for (var r = 0; r < active; r++)
        {
            FillInputs(r, _slots[r]);
        }

        var cancel = ct.CanBeCanceled ? ct.Register(static o => ((RunOptions)o!).Terminate = true, _runOptions) : default;
        try
        {
            RunLayers(ref active, ref earlyExitRows, results, batchStart, stats, ct);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or OperationCanceledException)
        {
            var canceled = ct.IsCancellationRequested;
            for (var r = 0; r < active; r++)
            {
                Publish(results, _slots[r].Request, canceled
                    ? InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was canceled")
                    : InferenceResult.Failure(InferenceErrorKind.Failed, $"ONNX Runtime failed: {ex.Message}"));
            }

            if (canceled)
            {
                throw new OperationCanceledException("inference batch canceled", ex, ct);
            }
        }
        finally
        {
            // Unregister first (Dispose waits for a callback already running): a cancel that lands after the
            // reset would otherwise leave Terminate set and fail the next batch.
            cancel.Dispose();
            _runOptions.Terminate = false;
            if (stats is not null)
            {
                stats.Requests += count;
                stats.OrtMs += TicksToMs(_ortTicks);
                stats.TotalMs += TicksToMs(Stopwatch.GetTimestamp() - batchStart);
            }
        }
    }

    private void RunLayers(ref int active, ref int earlyExitRows, InferenceResult[] results, long batchStart, BatchStatistics? stats, CancellationToken ct)
    {
        var t0 = Stopwatch.GetTimestamp();
        RunGraph(_graphs.Prefix, _graphs.PrefixBinding(_buffers, active));
        var prefixTicks = Stopwatch.GetTimestamp() - t0;
        for (var r = 0; r < active; r++)
        {
            _slots[r].PrefixTicks = prefixTicks;
        }

        var deepest = 0;
        for (var r = 0; r < active; r++)
        {
            deepest = Math.Max(deepest, _slots[r].FinalLayer);
        }

        var referenceLayer = _exitLayers[0] - 1;
        for (var layer = 0; layer <= deepest && active > 0; layer++)
        {
            ct.ThrowIfCancellationRequested();
            t0 = Stopwatch.GetTimestamp();
            RunGraph(_graphs.LanguageModel[layer], _graphs.LanguageModelBinding(_buffers, layer, active));
            var lmTicks = Stopwatch.GetTimestamp() - t0;
            for (var r = 0; r < active; r++)
            {
                _slots[r].LmTicks += lmTicks;
                _slots[r].LayersRun++;
            }

            if (stats is not null)
            {
                stats.LanguageModelLayerRuns++;
                stats.LanguageModelRowLayers += active;
            }

            var headRows = _exitIndexOfLayer[layer] >= 0 || layer == referenceLayer ? earlyExitRows : 0;
            var finishing = 0;
            while (earlyExitRows + finishing < active && _slots[earlyExitRows + finishing].FinalLayer == layer)
            {
                finishing++;
            }

            if (finishing > 0)
            {
                headRows = earlyExitRows + finishing;
            }

            if (headRows == 0)
            {
                continue;
            }

            t0 = Stopwatch.GetTimestamp();
            var headOutput = RunHead(layer, headRows, stats);
            var headTicks = Stopwatch.GetTimestamp() - t0;
            var anyDone = false;
            for (var r = 0; r < headRows; r++)
            {
                var row = _slots[r];
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
                    Publish(results, row.Request, Complete(row, batchStart));
                }
            }

            if (anyDone)
            {
                Compact(layer, ref active, ref earlyExitRows);
            }
        }
    }

    private TensorBuffer<float> RunHead(int layer, int rows, BatchStatistics? stats)
    {
        if (stats is not null)
        {
            stats.HeadRuns++;
        }

        if (!_dims.IsFlowMatching)
        {
            RunGraph(_graphs.MlpHead!, _graphs.MlpHeadBinding(_buffers, layer, rows));
            return _buffers.HeadActions;
        }

        var x = _buffers.NoisyActions;
        var maxSteps = 0;
        for (var r = 0; r < rows; r++)
        {
            var row = _slots[r];
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

        // Flow convention: t = 1 is noise, t = 0 the action; Euler with dt = -1/K. Rows with fewer
        // steps than the batch's largest idle through the extra iterations unchanged.
        var time = _buffers.Time.Data;
        var velocity = _buffers.Velocity;
        for (var step = 0; step < maxSteps; step++)
        {
            for (var r = 0; r < rows; r++)
            {
                var k = _slots[r].Steps;
                time[r] = step < k ? 1f - ((float)step / k) : 0f;
            }

            RunGraph(_graphs.ExpertSuffix!, _graphs.ExpertSuffixBinding(_buffers, rows));
            for (var e = 0; e <= layer; e++)
            {
                RunGraph(_graphs.ExpertLayers[e], _graphs.ExpertLayerBinding(_buffers, e, rows));
            }

            RunGraph(_graphs.ExpertOutput!, _graphs.ExpertOutputBinding(_buffers, layer + 1, rows));
            if (stats is not null)
            {
                stats.ExpertLayerRuns += layer + 1;
            }

            for (var r = 0; r < rows; r++)
            {
                var row = _slots[r];
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
        }

        return x;
    }

    private void RunGraph(OnnxGraph graph, OrtIoBinding binding)
    {
        var t0 = Stopwatch.GetTimestamp();
        graph.Run(_runOptions, binding);
        _ortTicks += Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>Removes finished rows. Early-exit rows fill holes from the end of their region
    /// (one row move per exit); full-depth rows keep their order, which the prefix rule needs.</summary>
    private void Compact(int layer, ref int active, ref int earlyExitRows)
    {
        var last = earlyExitRows - 1;
        var i = 0;
        while (i <= last)
        {
            if (!_slots[i].Done)
            {
                i++;
                continue;
            }

            while (last > i && _slots[last].Done)
            {
                last--;
            }

            if (last == i)
            {
                last--;
                break;
            }

            MoveRow(last, i, layer);
            (_slots[i], _slots[last]) = (_slots[last], _slots[i]);
            last--;
            i++;
        }

        var write = last + 1;
        var keptEarlyExit = write;
        for (var r = earlyExitRows; r < active; r++)
        {
            if (_slots[r].Done)
            {
                continue;
            }

            MoveRow(r, write, layer);
            (_slots[write], _slots[r]) = (_slots[r], _slots[write]);
            write++;
        }

        earlyExitRows = keptEarlyExit;
        active = write;
    }

    private void MoveRow(int from, int to, int layer)
    {
        if (from == to)
        {
            return;
        }

        _buffers.HiddenAfter(layer).MoveRow(from, to);
        _buffers.State.MoveRow(from, to);
        _buffers.AttentionBias.MoveRow(from, to);
        if (_dims.IsFlowMatching)
        {
            for (var l = 0; l <= layer; l++)
            {
                _buffers.Keys[l].MoveRow(from, to);
                _buffers.Values[l].MoveRow(from, to);
            }
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

    private void Publish(InferenceResult[] results, int index, InferenceResult result)
    {
        results[index] = result;
        _onResult?.Invoke(index, result);
    }

    private static double TicksToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public void Dispose()
    {
        _graphs.Dispose();
        _buffers.Dispose();
        _runOptions.Dispose();
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
