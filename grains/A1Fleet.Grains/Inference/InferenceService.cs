using System.Threading.Channels;
using A1Fleet.Engine.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// The silo-local device owner: engines (weights) load once per silo and every inference grain on the
/// silo shares them. Batches queue in a bounded channel and one worker thread runs them, so no ONNX
/// run ever happens on an Orleans scheduler thread and the device sees one batch at a time.
/// </summary>
public sealed partial class InferenceService : IDisposable
{
    private readonly Channel<Work> _queue;
    private readonly ModelCatalog _catalog = new();
    private readonly ILogger<InferenceService> _logger;
    private readonly Thread _worker;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, PartTimings> _prices = [];
    private readonly Dictionary<string, SimulatedDevice> _simulated = [];

    public InferenceService(IOptions<InferenceServiceOptions> options, ILogger<InferenceService> logger)
    {
        _logger = logger;
        Options = options.Value;
        foreach (var dir in Options.ModelPackages)
        {
            var engine = _catalog.Add(dir, Options.Engine);
            // Prices at batch 1 seed each inference grain's cost model before any request has run.
            _prices[engine.ModelId] = engine.MeasureParts(batch: 1, repetitions: 3);
            if (Options.Device == InferenceDevice.Simulated)
            {
                // Prices at the largest batch too: the simulated device interpolates between the two. Both (and so the
                // grains' cost models) times SimulatedTimeScale: the device the simulation stands for.
                _prices[engine.ModelId] = Scaled(_prices[engine.ModelId], Options.SimulatedTimeScale);
                _simulated[engine.ModelId] = new SimulatedDevice(engine, _prices[engine.ModelId],
                    Scaled(engine.MeasureParts(engine.MaxBatchSize, repetitions: 3), Options.SimulatedTimeScale));
                LogSimulated(engine.ModelId);
            }

            LogModelLoaded(engine.ModelId, dir, engine.Layers, Options.Engine.ExecutionProvider);
        }

        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(Options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _worker = new Thread(Drain) { IsBackground = true, Name = "a1fleet-inference" };
        _worker.Start();
    }

    public InferenceServiceOptions Options { get; }
    public ModelCatalog Catalog => _catalog;
    public bool HasModels => _catalog.ModelIds.Count > 0;

    public PartTimings PricesOf(string modelId) => _prices[modelId];

    private static PartTimings Scaled(PartTimings p, double k) => k == 1 ? p : p with
    {
        PrefixMs = p.PrefixMs * k, LanguageModelLayerMs = p.LanguageModelLayerMs * k, MlpHeadMs = p.MlpHeadMs * k,
        ExpertSuffixMs = p.ExpertSuffixMs * k, ExpertLayerMs = p.ExpertLayerMs * k, ExpertOutputMs = p.ExpertOutputMs * k,
    };

    /// <summary>Whether batches of <paramref name="modelId"/> run on the simulated device (tests, benchmarks).</summary>
    public bool IsSimulated(string modelId) => _simulated.ContainsKey(modelId);

    /// <summary>Queued batches not yet started (for metrics and launch decisions).</summary>
    public int QueuedBatches => _queue.Reader.Count;

    /// <param name="onResult">Called on the device thread as each request leaves the batch.</param>
    public async Task<BatchOutcome> RunAsync(string modelId, IReadOnlyList<InferenceRequest> requests, Action<int, InferenceResult>? onResult, CancellationToken cancellationToken)
    {
        var work = new Work(modelId, requests, onResult, cancellationToken);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        return await work.Completion.Task.WaitAsync(cancellationToken);
    }

    private void Drain()
    {
        var reader = _queue.Reader;
        try
        {
            while (reader.WaitToReadAsync(_stopping.Token).AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out var work))
                {
                    Execute(work);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Runs other device work (a calibration shard) on the device thread, queued with the inference
    /// batches, so it never shares the device with a batch and never runs in a grain turn.
    /// </summary>
    public async Task<T> RunOnDeviceAsync<T>(Func<ModelCatalog, CancellationToken, T> work, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>();
        var item = new Work("", [], null, cancellationToken)
        {
            Exclusive = () =>
            {
                try
                {
                    completion.TrySetResult(work(_catalog, cancellationToken));
                }
                catch (OperationCanceledException ex)
                {
                    completion.TrySetCanceled(ex.CancellationToken);
                }
                catch (Exception ex)
                {
                    completion.TrySetException(ex);
                }
            },
        };
        await _queue.Writer.WriteAsync(item, cancellationToken);
        return await completion.Task.WaitAsync(cancellationToken);
    }

    private void Execute(Work work)
    {
        if (work.Exclusive is { } exclusive)
        {
            exclusive();
            return;
        }

        if (work.CancellationToken.IsCancellationRequested)
        {
            work.Completion.TrySetCanceled(work.CancellationToken);
            return;
        }

        try
        {
            var stats = new BatchStatistics();
            var started = DateTimeOffset.UtcNow;
            var results = _simulated.TryGetValue(work.ModelId, out var simulated)
                ? simulated.Run(work.Requests, stats, work.OnResult, work.CancellationToken)
                : _catalog.Run(work.ModelId, work.Requests, stats, work.OnResult, work.CancellationToken);
            work.Completion.TrySetResult(new BatchOutcome(results, stats, started));
        }
        catch (OperationCanceledException ex)
        {
            work.Completion.TrySetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            LogBatchFailed(ex, work.ModelId, work.Requests.Count);
            work.Completion.TrySetException(ex);
        }
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _stopping.Cancel();
        _worker.Join(TimeSpan.FromSeconds(5));
        _catalog.Dispose();
        _stopping.Dispose();
    }

    private sealed record Work(string ModelId, IReadOnlyList<InferenceRequest> Requests, Action<int, InferenceResult>? OnResult, CancellationToken CancellationToken)
    {
        public Action? Exclusive { get; init; }

        // Continuations of grain code are queued to the activation's scheduler anyway; running them
        // "asynchronously" would only add a thread-pool hop to every reply.
        public TaskCompletionSource<BatchOutcome> Completion { get; } = new();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Loaded model {ModelId} from {Directory}: {Layers} LM layers on {Provider}")]
    private partial void LogModelLoaded(string modelId, string directory, int layers, string provider);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model {ModelId}: SIMULATED device (A1Fleet:Inference:Device = Simulated): batches spend the measured time and answer a neutral pose; not for arms")]
    private partial void LogSimulated(string modelId);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Batch of {Count} for model {ModelId} failed")]
    private partial void LogBatchFailed(Exception exception, string modelId, int count);
}

public sealed record BatchOutcome(InferenceResult[] Results, BatchStatistics Statistics, DateTimeOffset StartedAt);
