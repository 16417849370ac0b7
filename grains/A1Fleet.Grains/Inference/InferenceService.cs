using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// The silo-local device owner: engines (weights) load once per silo and every inference grain on the
/// silo shares them. Batches queue in a bounded channel and one worker thread (the device thread) runs them, so no ONNX
/// run ever happens on an Orleans scheduler thread. The device thread keeps up to
/// <see cref="EngineOptions.MaxBatchesInFlight"/> batches per model in flight and runs, before every step (one LM
/// layer), the step <see cref="DeviceSchedule{T}"/> picks: earliest deadline first, work up to a batch's first exit
/// before deeper layers of others. A batch arriving while a deep one runs so waits about one layer, not the whole batch.
/// On the engine, a batch behind another catches up with it when both have the slack, and the two then run as one
/// (<see cref="ISteppedBatch.TryJoin"/>; otherwise rows of different batches never share an ONNX run), the joined one
/// holding no place any more. With the bound reached it takes no more batches from the queue (which then fills:
/// <see cref="InferenceServiceOptions.QueueCapacity"/>, and callers wait for room).
/// </summary>
public sealed partial class InferenceService : IDisposable
{
    private readonly Channel<Work> _queue;
    private readonly ModelCatalog _catalog = new();
    private readonly ILogger<InferenceService> _logger;
    private readonly Thread _worker;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, ModelPrices> _prices = [];
    private readonly Dictionary<string, SimulatedDevice> _simulated = [];
    private readonly Dictionary<string, StepCosts> _stepCosts = [];
    private readonly Dictionary<string, int> _inFlightPerModel = [];
    private readonly TimeProvider _time;
    private readonly DeviceSchedule<InFlight> _schedule;

    /// <summary>Batches on the device that step (those that joined another are not here: their host steps their rows).</summary>
    private readonly List<InFlight> _stepping = [];
    private Work? _waiting;
    private long _joined;

    /// <param name="time">The clock the deadlines passed to <see cref="RunAsync(string, IReadOnlyList{InferenceRequest}, Action{int, InferenceResult}?, IReadOnlyList{long}?, CancellationToken)"/> are read on (the silo's <see cref="TimeProvider"/>).</param>
    public InferenceService(IOptions<InferenceServiceOptions> options, ILogger<InferenceService> logger, TimeProvider? time = null)
    {
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Options = options.Value;
        var given = Options.Device == InferenceDevice.Simulated && Options.SimulatedPricesFile is { } file ? SimulatedPrices.Read(file) : [];
        foreach (var dir in Options.ModelPackages)
        {
            var engine = _catalog.Add(dir, Options.Engine);
            if (Options.Device == InferenceDevice.Simulated)
            {
                // Prices at batch 1 and at the largest batch: the simulated device interpolates between the two. Both
                // (and so the grains' cost models) times SimulatedTimeScale: the device the simulation stands for.
                var prices = given.TryGetValue(engine.ModelId, out var listed)
                    ? listed
                    : new ModelPrices(engine.MeasureParts(batch: 1, repetitions: 3), engine.MeasureParts(engine.MaxBatchSize, repetitions: 3));
                _prices[engine.ModelId] = new ModelPrices(Scaled(prices.BatchOne, Options.SimulatedTimeScale), Scaled(prices.BatchMax, Options.SimulatedTimeScale));
                _simulated[engine.ModelId] = new SimulatedDevice(engine, _prices[engine.ModelId].BatchOne, _prices[engine.ModelId].BatchMax);
                LogSimulated(engine.ModelId, listed is null ? "measured here" : $"from {Options.SimulatedPricesFile}");
            }
            else
            {
                // Prices at batch 1 and at the largest batch shape each inference grain's cost model before any request
                // has run; measuring the largest batch also takes its working memory now, not under the first heavy load.
                _prices[engine.ModelId] = new ModelPrices(engine.MeasureParts(batch: 1, repetitions: 3), engine.WarmUp());
            }

            _stepCosts[engine.ModelId] = new StepCosts(_prices[engine.ModelId].BatchOne, engine.MaxBatchSize, engine.ExitLayers[0]);
            _inFlightPerModel[engine.ModelId] = 0;
            LogModelLoaded(engine.ModelId, dir, engine.Layers, Options.Engine.ExecutionProvider,
                A1Engine.IntraOpThreads == 0 ? "ONNX Runtime's default, one per physical core" : A1Engine.IntraOpThreads.ToString(CultureInfo.InvariantCulture));
        }

        _schedule = new DeviceSchedule<InFlight>(Math.Max(1, _catalog.ModelIds.Count * Options.Engine.MaxBatchesInFlight), _time);

        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(Options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _worker = new Thread(Drain) { IsBackground = true, Name = "a1fleet-inference" };
        _worker.Start();
    }

    public InferenceServiceOptions Options { get; }
    public ModelCatalog Catalog => _catalog;
    public bool HasModels => _catalog.ModelIds.Count > 0;

    /// <summary>The part prices of a loaded model at batch 1 and at its largest batch, as the device runs them (simulated: scaled).</summary>
    public ModelPrices PricesOf(string modelId) => _prices[modelId];

    private static PartTimings Scaled(PartTimings p, double k) => k == 1 ? p : p with
    {
        PrefixMs = p.PrefixMs * k, LanguageModelLayerMs = p.LanguageModelLayerMs * k, MlpHeadMs = p.MlpHeadMs * k,
        ExpertSuffixMs = p.ExpertSuffixMs * k, ExpertLayerMs = p.ExpertLayerMs * k, ExpertOutputMs = p.ExpertOutputMs * k,
    };

    /// <summary>Whether batches of <paramref name="modelId"/> run on the simulated device (tests, benchmarks).</summary>
    public bool IsSimulated(string modelId) => _simulated.ContainsKey(modelId);

    /// <summary>
    /// Whether the device thread joins batches of <paramref name="modelId"/> in flight (<see cref="ISteppedBatch.TryJoin"/>):
    /// the engine does; the simulated device does not (each batch there spends its own steps).
    /// </summary>
    public bool JoinsBatches(string modelId) => _catalog.TryGet(modelId, out _) && !IsSimulated(modelId);

    /// <summary>Batches whose rows joined another batch in flight since the service started.</summary>
    public long BatchesJoined => Interlocked.Read(ref _joined);

    /// <summary>Queued batches not yet started (for metrics and launch decisions).</summary>
    public int QueuedBatches => _queue.Reader.Count;

    /// <summary>Runs a batch with no deadlines (it goes after every batch that has one).</summary>
    public Task<BatchOutcome> RunAsync(string modelId, IReadOnlyList<InferenceRequest> requests, Action<int, InferenceResult>? onResult, CancellationToken cancellationToken) =>
        RunAsync(modelId, requests, onResult, null, cancellationToken);

    /// <param name="onResult">Called on the device thread as each request leaves the batch.</param>
    /// <param name="deadlines">Per request, when its answer is due (<see cref="TimeProvider.GetTimestamp"/> of the silo's clock): the
    /// batch's place among those in flight follows the earliest deadline of its rows still waiting. Null: none.</param>
    /// <param name="joined">Set when the batch's rows join another batch in flight (<see cref="JoinsBatches"/>): from then
    /// on it holds none of the device's <see cref="EngineOptions.MaxBatchesInFlight"/> places, and its rows answer as the
    /// other's steps reach them.</param>
    public async Task<BatchOutcome> RunAsync(string modelId, IReadOnlyList<InferenceRequest> requests, Action<int, InferenceResult>? onResult, IReadOnlyList<long>? deadlines,
        CancellationToken cancellationToken, TaskCompletionSource? joined = null)
    {
        var work = new Work(modelId, requests, onResult, cancellationToken) { Deadlines = deadlines, Joined = joined };
        await _queue.Writer.WriteAsync(work, cancellationToken);
        return await work.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Batches on the device now (begun, not finished), all models.</summary>
    public int BatchesInFlight => Volatile.Read(ref _inFlightCount);

    private int _inFlightCount;

    private void Drain()
    {
        var reader = _queue.Reader;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                Admit(reader);
                if (_schedule.Next() is { } next)
                {
                    StepOnce(CatchingUp(next) ?? next);
                    continue;
                }

                if (!reader.WaitToReadAsync(_stopping.Token).AsTask().GetAwaiter().GetResult())
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // A fault of the device thread's own scheduling (a batch's failure is answered in StepOnce): escaping, it
                // would end this thread and the silo process with it, every robot served here left without answers until
                // the silo is replaced (a bug in the catch-up once did so in the demo). The batches on the device (a batch is
                // listed there as soon as it is begun) are failed instead, their requests answered with the error, and the
                // device goes on with the next.
                AbandonInFlight(ex);
            }
        }

        // Stopping: nobody will step what is still in flight.
        while (_schedule.Next() is { } left)
        {
            Finish(left);
            left.Work.Completion.TrySetCanceled();
            foreach (var joined in left.Joined)
            {
                Finish(joined);
                joined.Work.Completion.TrySetCanceled();
            }
        }
    }

    /// <summary>
    /// Fails every batch on the device (joined ones included) with <paramref name="fault"/> and starts over with none in
    /// flight: after a fault mid-step their bookkeeping cannot be trusted, and a request answered with an error is asked
    /// again by its robot, where one never answered is waited on until its deadline.
    /// </summary>
    private void AbandonInFlight(Exception fault)
    {
        var flights = _stepping.Union(_schedule.TakeAll()).ToList();
        var abandoned = flights.Concat(flights.SelectMany(f => f.Joined)).ToList();
        foreach (var flight in abandoned)
        {
            try
            {
                Finish(flight);
            }
            catch (Exception ex)
            {
                LogAbandonFailed(ex, flight.Work.ModelId);
            }

            flight.Work.Completion.TrySetException(fault);
        }

        _stepping.Clear();
        foreach (var model in _inFlightPerModel.Keys.ToList())
        {
            _inFlightPerModel[model] = 0;
        }

        Volatile.Write(ref _inFlightCount, 0);
        LogDeviceFault(fault, abandoned.Count);
    }

    /// <summary>Takes batches from the queue while there is room for them (between two steps); exclusive work runs at once.</summary>
    private void Admit(ChannelReader<Work> reader)
    {
        while (true)
        {
            var work = _waiting;
            if (work is null && !reader.TryRead(out work))
            {
                return;
            }

            _waiting = null;
            if (work.Exclusive is not null || work.CancellationToken.IsCancellationRequested || !_inFlightPerModel.ContainsKey(work.ModelId)
                || work.Requests.Count > MaxRowsOf(work.ModelId))
            {
                // Not a batch to interleave (device work, canceled, unknown model, too large to step): run or answer it now, whole.
                Execute(work);
                continue;
            }

            if (_schedule.IsFull || _inFlightPerModel[work.ModelId] >= Options.Engine.MaxBatchesInFlight)
            {
                // No room: it waits here, and the queue behind it fills (back-pressure to the grains).
                _waiting = work;
                return;
            }

            Start(work);
        }
    }

    private int MaxRowsOf(string modelId) => _catalog.TryGet(modelId, out var engine) ? engine.MaxBatchSize : 0;

    private void Start(Work work)
    {
        var flight = new InFlight(work, _stepCosts[work.ModelId]);
        try
        {
            flight.Batch = _simulated.TryGetValue(work.ModelId, out var simulated)
                ? simulated.Begin(work.Requests, flight.Statistics, flight.OnResult, work.CancellationToken)
                : _catalog.TryGet(work.ModelId, out var engine) ? engine.Begin(work.Requests, flight.Statistics, flight.OnResult, work.CancellationToken)
                : throw new InvalidOperationException($"model '{work.ModelId}' is not loaded");
        }
        catch (Exception ex)
        {
            LogBatchFailed(ex, work.ModelId, work.Requests.Count);
            work.Completion.TrySetException(ex);
            return;
        }

        _inFlightPerModel[work.ModelId]++;
        Interlocked.Increment(ref _inFlightCount);
        // Listed before anything else can fail: a fault from here on finds it to answer (AbandonInFlight).
        _stepping.Add(flight);
        if (flight.Batch.IsCompleted)
        {
            Complete(flight);
            return;
        }

        _schedule.TryAdd(flight, flight.Deadline, flight.RemainingTicks(_time));
    }

    /// <summary>
    /// A batch behind <paramref name="next"/> that can catch up with it and join it, to step instead: when both can join
    /// and fit in one batch, and <paramref name="next"/> can wait for the catch-up (its steps up to where
    /// <paramref name="next"/> stands) and then run at the joined size with every row of both still within its deadline.
    /// Each joined step then serves both, where interleaved each would have run its own (a batch launched while another
    /// runs so waits about one step instead of the other's first exit). Among several, the one closest behind.
    /// </summary>
    private InFlight? CatchingUp(InFlight next)
    {
        var ahead = next.Batch!;
        if (!ahead.Joinable)
        {
            return null;
        }

        // Batches join only between layers: where the batch ahead stands is the next layer it reaches with no step of
        // the prefix or of a head left (layer 0 while its prefix runs, in stages or whole: a batch just arrived otherwise
        // waited for the other's prefix and first layers; the layer after one whose head is under way).
        var meet = ahead.NextLayer < 0 ? 0 : ahead.StepsUntil(ahead.NextLayer) > 0 ? ahead.NextLayer + 1 : ahead.NextLayer;
        var aheadSteps = ahead.StepsUntil(meet);
        if (aheadSteps >= ahead.RemainingSteps)
        {
            return null;
        }

        var now = _time.GetTimestamp();
        var maxRows = MaxRowsOf(next.Work.ModelId);
        InFlight? best = null;
        var bestSteps = int.MaxValue;
        foreach (var behind in _stepping)
        {
            var b = behind.Batch!;
            if (!MayJoin(next, behind, maxRows))
            {
                // Another model's batch among them: its layers are not this one's.
                continue;
            }

            // This many steps more than the batch ahead to stand where it will (and it must go that deep).
            var behindSteps = b.StepsUntil(meet);
            var steps = behindSteps - aheadSteps;
            if (steps <= 0 || steps >= bestSteps || behindSteps >= b.RemainingSteps)
            {
                continue;
            }

            var catchUp = (behindSteps * behind.Costs.StepMs(b.Rows)) + (aheadSteps * next.Costs.StepMs(ahead.Rows));
            var joined = Math.Max(ahead.RemainingSteps - aheadSteps, b.RemainingSteps - behindSteps) * next.Costs.StepMs(b.Rows + ahead.Rows);
            if (InTime(now, catchUp + joined, next, behind))
            {
                best = behind;
                bestSteps = steps;
            }
        }

        return best;
    }

    /// <summary>
    /// After a step of <paramref name="flight"/>: joins it with a batch of the same model standing at the same layer when
    /// both can and every row of both stays within its deadline at the joined size. The one with more rows keeps
    /// stepping (fewer rows copied).
    /// </summary>
    private void JoinAtSameLayer(InFlight flight)
    {
        var batch = flight.Batch!;
        if (!batch.Joinable || batch.NextLayer < 0)
        {
            return;
        }

        var maxRows = MaxRowsOf(flight.Work.ModelId);
        foreach (var other in _stepping)
        {
            var o = other.Batch!;
            if (!MayJoin(flight, other, maxRows) || o.NextLayer != batch.NextLayer)
            {
                continue;
            }

            var joinedMs = Math.Max(batch.RemainingSteps, o.RemainingSteps) * flight.Costs.StepMs(o.Rows + batch.Rows);
            if (!InTime(_time.GetTimestamp(), joinedMs, flight, other))
            {
                continue;
            }

            // A batch with guests stays their host (the engine joins it into no other).
            var (host, guest) = o.HasGuests || (!batch.HasGuests && o.Rows > batch.Rows) ? (other, flight) : (flight, other);
            if (host.Batch!.TryJoin(guest.Batch!))
            {
                _schedule.Remove(guest);
                _stepping.Remove(guest);
                host.Joined.Add(guest);
                // Its context went back to the engine: a place for the next batch.
                guest.HoldsContext = false;
                _inFlightPerModel[guest.Work.ModelId]--;
                Interlocked.Increment(ref _joined);
                guest.Work.Joined?.TrySetResult();
                _schedule.Update(host, host.Deadline, host.BeforeFirstExit, host.RemainingTicks(_time));
            }

            return;
        }
    }

    /// <summary>Completes the batches that joined <paramref name="host"/> once their last row has been answered in its steps.</summary>
    private void CompleteJoined(InFlight host)
    {
        for (var i = host.Joined.Count - 1; i >= 0; i--)
        {
            var joined = host.Joined[i];
            if (joined.Batch!.IsCompleted)
            {
                host.Joined.RemoveAt(i);
                Complete(joined);
            }
        }
    }

    /// <summary>Two different batches of one model, both able to join, that fit in one batch together.</summary>
    private static bool MayJoin(InFlight a, InFlight b, int maxRows) =>
        !ReferenceEquals(a, b) && a.Work.ModelId == b.Work.ModelId && b.Batch!.Joinable && a.Batch!.Rows + b.Batch.Rows <= maxRows;

    /// <summary>Whether <paramref name="ms"/> of device work from <paramref name="now"/>, planned <see cref="JoinSafety"/> times over, ends by every deadline of both batches.</summary>
    private bool InTime(long now, double ms, InFlight a, InFlight b) => now + MsToTicks(JoinSafety * ms) <= Math.Min(a.Deadline, b.Deadline);

    private long MsToTicks(double ms) => (long)(ms * _time.TimestampFrequency / 1000.0);

    /// <summary>
    /// How much longer than their average steps a join plans for: the rows' caps were set before anyone knew of the join
    /// and its catch-up, steps on a loaded device vary, and an answer due at its deadline must still travel back.
    /// </summary>
    private const double JoinSafety = 1.25;

    private void StepOnce(InFlight flight)
    {
        var work = flight.Work;
        var t0 = Stopwatch.GetTimestamp();
        var rows = flight.Batch!.Rows;
        bool done;
        try
        {
            done = flight.Batch.Step();
        }
        catch (OperationCanceledException ex)
        {
            Finish(flight);
            work.Completion.TrySetCanceled(ex.CancellationToken);
            CompleteJoined(flight);
            return;
        }
        catch (Exception ex)
        {
            LogBatchFailed(ex, work.ModelId, work.Requests.Count);
            Finish(flight);
            work.Completion.TrySetException(ex);
            CompleteJoined(flight);
            return;
        }

        flight.Costs.Observe(rows, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        CompleteJoined(flight);
        if (done)
        {
            Complete(flight);
            return;
        }

        _schedule.Update(flight, flight.Deadline, flight.BeforeFirstExit, flight.RemainingTicks(_time));
        JoinAtSameLayer(flight);
    }

    private void Complete(InFlight flight)
    {
        Finish(flight);
        flight.Work.Completion.TrySetResult(new BatchOutcome(flight.Batch!.Results, flight.Statistics, flight.StartedAt));
    }

    /// <summary>Leaves the schedule and hands the batch's buffers back to its engine.</summary>
    private void Finish(InFlight flight)
    {
        _schedule.Remove(flight);
        _stepping.Remove(flight);
        if (flight.Batch is { } batch)
        {
            batch.Dispose();
            if (flight.HoldsContext)
            {
                _inFlightPerModel[flight.Work.ModelId]--;
            }

            Interlocked.Decrement(ref _inFlightCount);
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

        public IReadOnlyList<long>? Deadlines { get; init; }

        public TaskCompletionSource? Joined { get; init; }

        // Continuations of grain code are queued to the activation's scheduler anyway; running them
        // "asynchronously" would only add a thread-pool hop to every reply.
        public TaskCompletionSource<BatchOutcome> Completion { get; } = new();
    }

    /// <summary>A batch on the device: its stepped run, which rows are still waiting, and what its steps cost.</summary>
    private sealed class InFlight
    {
        private readonly bool[] _answered;

        public InFlight(Work work, StepCosts costs)
        {
            Work = work;
            Costs = costs;
            _answered = new bool[work.Requests.Count];
            OnResult = (i, r) =>
            {
                _answered[i] = true;
                work.OnResult?.Invoke(i, r);
            };
        }

        public Work Work { get; }
        public StepCosts Costs { get; }
        public ISteppedBatch? Batch { get; set; }
        public BatchStatistics Statistics { get; } = new();
        public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
        public Action<int, InferenceResult> OnResult { get; }

        /// <summary>Batches whose rows joined this one's (<see cref="ISteppedBatch.TryJoin"/>) and are not complete yet: its steps run their rows.</summary>
        public List<InFlight> Joined { get; } = [];

        /// <summary>Holds one of the model's places on the device (until it joins another batch or finishes).</summary>
        public bool HoldsContext { get; set; } = true;

        /// <summary>The earliest deadline of a row still waiting, joined rows included (none: never).</summary>
        public long Deadline
        {
            get
            {
                var deadlines = Work.Deadlines;
                var earliest = long.MaxValue;
                foreach (var joined in Joined)
                {
                    earliest = Math.Min(earliest, joined.Deadline);
                }

                if (deadlines is null)
                {
                    return earliest;
                }

                for (var i = 0; i < _answered.Length && i < deadlines.Count; i++)
                {
                    if (!_answered[i])
                    {
                        earliest = Math.Min(earliest, deadlines[i]);
                    }
                }

                return earliest;
            }
        }

        public bool BeforeFirstExit => Batch!.NextLayer <= Costs.FirstExit;

        public long RemainingTicks(TimeProvider time) =>
            (long)(Batch!.RemainingSteps * Costs.StepMs(Math.Max(1, Batch.Rows)) * time.TimestampFrequency / 1000.0);
    }

    /// <summary>
    /// What one step of a model costs at each batch size, as the device thread measures it (a moving average over every
    /// step, heads included), seeded from the batch-1 prices with no batching gain (late beats wrong). Only the device
    /// thread touches it.
    /// </summary>
    private sealed class StepCosts
    {
        private const double LearningRate = 0.1;
        private readonly double[] _ms;

        public StepCosts(PartTimings prices, int maxBatch, int firstExit)
        {
            FirstExit = firstExit;
            _ms = new double[maxBatch + 1];
            for (var b = 1; b <= maxBatch; b++)
            {
                _ms[b] = b * prices.LanguageModelLayerMs;
            }
        }

        public int FirstExit { get; }

        public double StepMs(int rows) => _ms[Math.Clamp(rows, 1, _ms.Length - 1)];

        public void Observe(int rows, double ms)
        {
            if (rows < 1 || rows >= _ms.Length || !double.IsFinite(ms))
            {
                return;
            }

            _ms[rows] = ((1 - LearningRate) * _ms[rows]) + (LearningRate * ms);
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Loaded model {ModelId} from {Directory}: {Layers} LM layers on {Provider}; intra-op threads: {IntraOpThreads}")]
    private partial void LogModelLoaded(string modelId, string directory, int layers, string provider, string intraOpThreads);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model {ModelId}: SIMULATED device (A1Fleet:Inference:Device = Simulated): batches spend the prices ({Prices}) and answer a neutral pose; not for arms")]
    private partial void LogSimulated(string modelId, string prices);

    [LoggerMessage(EventId = 103, Level = LogLevel.Critical, Message = "The device thread's scheduling failed; the {Batches} batch(es) on the device were failed with it and the device goes on")]
    private partial void LogDeviceFault(Exception exception, int batches);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "A batch of model {ModelId} abandoned after a device fault did not release cleanly")]
    private partial void LogAbandonFailed(Exception exception, string modelId);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Batch of {Count} for model {ModelId} failed")]
    private partial void LogBatchFailed(Exception exception, string modelId, int count);
}

public sealed record BatchOutcome(InferenceResult[] Results, BatchStatistics Statistics, DateTimeOffset StartedAt);
