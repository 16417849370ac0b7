using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains.Diagnostics;
using A1Fleet.Grains.Placement;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using EngineRequest = A1Fleet.Engine.Inference.InferenceRequest;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// One per (model, GPU silo serving it), on that silo (key "{modelId}/{silo}", <see cref="SiloKeyedPlacementFilterAttribute"/>):
/// robot grains spread a model's requests over its serving silos (see <c>InferenceRouter</c>).
/// Batches the concurrent requests of many robots for one model, budget-aware, by <see cref="BatchPolicy{T}"/>:
/// each request carries a deadline (arrival - the observation's age + its robot's budget); a batch launches when full, when waiting
/// longer would put the earliest deadline at risk, or after <see cref="InferenceBatchingOptions.MaxGather"/>; every
/// request's deepest layer is capped so it finishes in time by the learned cost model. A request that cannot
/// meet its deadline even at the first exit, given the work ahead of it, is refused at once (or, should it wait longer
/// than predicted, as soon as its deadline comes too close for a first exit: a timer wakes for it) with a reason and a
/// retry hint: never run late.
/// Several batches may be in flight at once (up to the engine's <see cref="A1Fleet.Engine.EngineOptions.MaxBatchesInFlight"/>):
/// the device thread interleaves their layers earliest deadline first, so requests queued while a deep batch runs
/// launch at once in a batch of their own and wait about one layer, not the whole batch. With the bound reached they
/// wait here, queued, and go into the next batch launched when one finishes.
/// Reentrant: requests keep arriving while batches run, and the device work happens in
/// <see cref="InferenceService"/>, never in a grain turn.
/// </summary>
[SiloKeyedPlacementFilter]
[Reentrant]
public sealed partial class InferenceGrain : Grain, IInferenceGrain
{
    private readonly InferenceService _service;
    private readonly InferenceBatchingOptions _options;
    private readonly FleetInstruments _instruments;
    private readonly TimeProvider _time;
    private readonly ILogger<InferenceGrain> _logger;
    private DecodeSettings _decode = DecodeSettings.EarlyExitWarmK2;
    private BatchPolicy<Pending>? _policy;
    private ThresholdSet? _thresholds;
    private string _modelId = "";
    private int _batchesInFlight;
    private int _maxBatchesInFlight = 1;
    private IGrainTimer? _launchTimer;
    private long _launchAtTicks = long.MaxValue;

    public InferenceGrain(InferenceService service, IOptions<InferenceBatchingOptions> options, FleetInstruments instruments, TimeProvider time, ILogger<InferenceGrain> logger)
    {
        _service = service;
        _options = options.Value;
        _instruments = instruments;
        _time = time;
        _logger = logger;
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.LastIndexOf('/');
        _modelId = slash > 0 ? key[..slash] : key;
        _decode = DecodeSettings.Of(_options.Decode);
        if (_service.Catalog.TryGet(_modelId, out var engine))
        {
            var maxBatch = Math.Min(_options.MaxBatchSize, engine.MaxBatchSize);
            _maxBatchesInFlight = engine.MaxBatchesInFlight;
            _policy = new BatchPolicy<Pending>(new CostModel(_service.PricesOf(_modelId), engine.ExitLayers, maxBatch),
                new BatchPolicySettings(maxBatch, engine.Layers, _options.MaxGather.TotalMilliseconds, _options.DeadlineMargin.TotalMilliseconds, _options.MaxQueuedRequests, _options.MaxQueuedPerRobot,
                    JoinsInFlight: _service.JoinsBatches(_modelId)), _time);
            await RefreshThresholds();
            this.RegisterGrainTimer(static (grain, _) => grain.RefreshThresholds(), this,
                new GrainTimerCreationOptions(_options.ThresholdRefreshInterval, _options.ThresholdRefreshInterval) { Interleave = true, KeepAlive = false });
        }
    }

    public async Task<InferenceReply> Infer(InferenceCall call, CancellationToken cancellationToken = default)
    {
        if (_policy is null)
        {
            _instruments.OnError(_modelId, "unknown_model");
            return new InferenceReply(false, [], 0, 0, null, $"model '{_modelId}' is not served by this GPU silo");
        }

        var pending = new Pending(call);
        var (queued, refusal) = _policy.TryEnqueue(pending, call.RobotId, call.BudgetMs, call.Observation.AgeMs, EffectiveDecode(_thresholds), call.ActionsLeftMs);
        if (refusal is not null || queued is null)
        {
            // Refused at once, before any work: the robot keeps executing what it holds and asks again after the hint.
            _instruments.OnRefused(_modelId, call.RobotId, refusal!.Reason);
            return InferenceReply.Refused(refusal);
        }

        ScheduleLaunch();
        using var registration = cancellationToken.Register(static p => ((Pending)p!).Completion.TrySetCanceled(), pending);
        return await pending.Completion.Task;
    }

    private void ScheduleLaunch()
    {
        if (_policy is null)
        {
            return;
        }

        RefuseExpired();
        if (_policy.Count == 0)
        {
            return;
        }

        // One clock reading decides (BatchPolicy.LaunchDelay): "due now" is never missed by a later reading.
        var delay = _batchesInFlight < _maxBatchesInFlight ? _policy.LaunchDelay(_decode) : null;
        if (delay == TimeSpan.Zero)
        {
            _ = LaunchBatch();
            return;
        }

        // Waiting (for the launch time, or for a batch in flight to finish): wake up as well when the earliest queued
        // request can no longer make its deadline, to refuse it then rather than when a batch finally forms.
        var expiry = _policy.ExpiryDelay(EffectiveDecode(_thresholds));
        var wait = delay is { } d && (expiry is not { } e || d < e) ? delay : expiry;
        if (wait is not { } due)
        {
            return;
        }

        var launchAt = _time.GetTimestamp() + (long)(due.TotalSeconds * _time.TimestampFrequency);
        if (launchAt < _launchAtTicks)
        {
            _launchAtTicks = launchAt;
            _launchTimer?.Dispose();
            _launchTimer = this.RegisterGrainTimer(static (grain, _) => grain.OnLaunchTimer(), this,
                new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { Interleave = true, KeepAlive = true });
        }
    }

    /// <summary>Refuses the queued requests whose deadline came too close to make even the first exit.</summary>
    private void RefuseExpired()
    {
        foreach (var (request, refusal) in _policy!.TakeExpired(EffectiveDecode(_thresholds)))
        {
            if (request.Item.Completion.Task.IsCompleted)
            {
                // Nobody waits for it any more (the caller gave up): dropped, not counted.
                continue;
            }

            _instruments.OnRefused(_modelId, request.RobotId, refusal.Reason);
            request.Item.Completion.TrySetResult(InferenceReply.Refused(refusal));
        }
    }

    private Task OnLaunchTimer()
    {
        _launchTimer?.Dispose();
        _launchTimer = null;
        _launchAtTicks = long.MaxValue;
        ScheduleLaunch();
        return Task.CompletedTask;
    }

    private int Layers => _service.Catalog.TryGet(_modelId, out var engine) ? engine.Layers : 1;

    private async Task LaunchBatch()
    {
        _batchesInFlight++;
        int? deepest = null;
        long? started = null;
        var joined = false;
        _launchTimer?.Dispose();
        _launchTimer = null;
        _launchAtTicks = long.MaxValue;
        try
        {
            var thresholds = _thresholds;
            var decode = EffectiveDecode(thresholds);
            var taken = _policy!.TakeBatch(decode, static p => p.Completion.Task.IsCompleted);
            foreach (var (request, refusal) in taken.Expired)
            {
                _instruments.OnRefused(_modelId, request.RobotId, refusal.Reason);
                request.Item.Completion.TrySetResult(InferenceReply.Refused(refusal));
            }

            if (taken.Rows.Count > 0)
            {
                started = _policy.BatchStarted(taken.Rows.Count, taken.Rows.Max(r => r.Cap), decode, taken.Rows.Min(r => r.Request.DeadlineTicks),
                    [.. taken.Rows.Select(r => (r.Cap, r.Request.DeadlineTicks))]);
                deepest = await RunBatch(taken.Rows, thresholds, decode, () =>
                {
                    // Its rows joined a batch in flight: it holds no place on the device any more, and while requests
                    // arrive seldom another may launch beside. Under load the place stays counted until its rows are
                    // answered, so the queue gathers a batch rather than launch more to interleave beside the joined
                    // one. Its work is the device's either way (in the other's steps): the policy counts it until then.
                    if (_policy.ArrivalsAllowJoining(decode))
                    {
                        joined = true;
                        _batchesInFlight--;
                        ScheduleLaunch();
                    }
                });
            }
        }
        finally
        {
            if (started is { } id)
            {
                _policy?.BatchFinished(id, deepest);
            }

            if (!joined)
            {
                _batchesInFlight--;
            }

            ScheduleLaunch();
        }
    }

    /// <returns>The deepest exit layer a row of the batch reached (null when the batch failed).</returns>
    /// <param name="onJoined">Runs in a turn of this grain when the batch's rows join another batch in flight (InferenceService.JoinsBatches).</param>
    private async Task<int?> RunBatch(List<PlannedRow<Pending>> batch, ThresholdSet? thresholds, DecodeSettings decode, Action onJoined)
    {
        var requests = new EngineRequest[batch.Count];
        var caps = new int[batch.Count];
        var deadlines = new long[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            caps[i] = batch[i].Cap;
            deadlines[i] = batch[i].Request.DeadlineTicks;
            var call = batch[i].Request.Item.Call;
            requests[i] = new EngineRequest
            {
                Instruction = call.Instruction,
                State = call.Observation.State,
                Images = call.Observation.Images,
                Decode = decode,
                Thresholds = thresholds,
                MaxLayer = caps[i],
                Seed = call.Seed,
            };
        }

        _instruments.OnBatchLaunched(_modelId, batch.Count);
        var layers = Layers;
        var modelId = _modelId;
        var policy = _policy!;
        var costModel = policy.Cost;

        // Runs on the device thread as each request leaves the batch: early exits are answered at
        // once instead of waiting for the deepest request. Touches only what this batch captured.
        void Answer(int i, InferenceResult r)
        {
            var q = batch[i].Request;
            var p = q.Item;
            if (!r.Succeeded)
            {
                _instruments.OnError(modelId, r.ErrorKind.ToString().ToLowerInvariant());
                p.Completion.TrySetResult(new InferenceReply(false, [], 0, 0, null, r.Error));
                return;
            }

            var now = _time.GetTimestamp();
            var totalMs = TicksToMs(now - q.ArrivedTicks);
            var queueMs = Math.Max(0, totalMs - r.TotalMs);
            var missed = now > q.DeadlineTicks;
            // Forced: stopped at a cap its deadline set, short of the last layer, before the exit test let it go.
            var forced = policy.IsForcedExit(r.StoppedAtCap, caps[i]);
            _instruments.OnRequestCompleted(modelId, r.ExitLayer, (double)r.LayersRun / layers, r.DenoisingSteps, queueMs, r.TotalMs, totalMs, missed, forced);
            var stats = new InferenceStats(r.ExitLayer, r.LayersRun, layers, r.DenoisingSteps, queueMs, r.TotalMs, totalMs, missed, batch.Count,
                thresholds?.Version ?? "none", caps[i], forced);
            p.Completion.TrySetResult(new InferenceReply(true, r.Actions, r.Chunk, r.ActionDim, stats, null));
        }

        BatchOutcome outcome;
        try
        {
            var joined = new TaskCompletionSource();
            var running = _service.RunAsync(_modelId, requests, Answer, deadlines, CancellationToken.None, joined);
            // Queued: requests left out of this batch (or arriving from now on) may form the next at once, interleaved on the device.
            ScheduleLaunch();
            if (await Task.WhenAny(running, joined.Task) == joined.Task)
            {
                onJoined();
            }

            outcome = await running;
        }
        catch (Exception ex)
        {
            LogBatchFailed(ex, _modelId, batch.Count);
            foreach (var row in batch)
            {
                _instruments.OnError(_modelId, "engine");
                row.Request.Item.Completion.TrySetResult(new InferenceReply(false, [], 0, 0, null, $"inference failed: {ex.Message}"));
            }

            return null;
        }

        var exits = new int[outcome.Results.Length];
        for (var i = 0; i < exits.Length; i++)
        {
            exits[i] = outcome.Results[i].Succeeded ? outcome.Results[i].ExitLayer : -1;
        }

        if (!outcome.Statistics.Joined)
        {
            // A joined batch's time is not its own rows' at its own size (ISteppedBatch.TryJoin): it would teach a wrong price.
            costModel.Observe(exits, decode, outcome.Statistics.TotalMs);
        }

        return Math.Max(0, exits.DefaultIfEmpty(0).Max());
    }

    private async Task RefreshThresholds()
    {
        try
        {
            var live = await GrainFactory.GetGrain<IModelGrain>(_modelId).GetLive();
            if (live is null || live.Version == _thresholds?.Version)
            {
                return;
            }

            var set = ThresholdSet.FromJson(live.Json) with { Version = live.Version };
            if (!_service.Catalog.TryGet(_modelId, out var engine) || !set.ExitLayers.SequenceEqual(engine.ExitLayers) || set.ModelId != _modelId)
            {
                LogThresholdsRejected(_modelId, live.Version);
                return;
            }

            // Takes effect for the next batch launched; the running batch keeps the set it started with.
            _thresholds = set;
            _instruments.OnThresholdsLive(_modelId, live.Version);
            LogThresholdsSwitched(_modelId, live.Version, set.Name);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogThresholdRefreshFailed(ex, _modelId);
        }
    }

    /// <summary>Without a live threshold set there is no exit test: rows run to their cap.</summary>
    private DecodeSettings EffectiveDecode(ThresholdSet? thresholds) =>
        thresholds is null ? DecodeSettings.FullDepthK10 with { DenoisingSteps = _decode.DenoisingSteps } : _decode;

    private double TicksToMs(long ticks) => ticks * 1000.0 / _time.TimestampFrequency;

    private sealed class Pending(InferenceCall call)
    {
        public InferenceCall Call { get; } = call;
        // Completed on the device thread; the awaiting grain code still resumes on its activation scheduler.
        public TaskCompletionSource<InferenceReply> Completion { get; } = new();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "Batch of {Count} for {ModelId} failed")]
    private partial void LogBatchFailed(Exception exception, string modelId, int count);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Model {ModelId}: thresholds {Version} ({Name}) live for the next batch")]
    private partial void LogThresholdsSwitched(string modelId, string version, string name);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Model {ModelId}: threshold version {Version} does not fit the loaded model and was ignored")]
    private partial void LogThresholdsRejected(string modelId, string version);

    [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "Model {ModelId}: could not refresh thresholds")]
    private partial void LogThresholdRefreshFailed(Exception exception, string modelId);
}
