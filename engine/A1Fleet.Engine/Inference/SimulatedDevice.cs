using System.Diagnostics;
using A1Fleet.EarlyExit;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// A stand-in for the device that spends, instead of computing, the time the real engine measured for each part
/// (<see cref="A1Engine.MeasureParts"/>) at each batch size: the prefix, every LM layer at the rows still in the
/// batch, and the head at the layer before the first exit and at every exit. Scheduling can so be tested and measured
/// at scale (many silos, thousands of robots) on a machine without the accelerator the figures stand for. Never the
/// default (<c>A1Fleet:Inference:Device</c> is <c>Engine</c> unless set).
/// <para>Rows leave as the real engine's do: at their cap (snapped down to an exit, never before the first; then
/// <see cref="InferenceResult.StoppedAtCap"/>), or in early-exit mode at the exit their seed draws (uniform over the
/// exits: a stand-in for the exit test), or at the last exit. The answer is well formed and says nothing: every step
/// of the chunk is the middle of each valid action dim's normalisation range, in robot units.</para>
/// Runs on the caller's thread (the device thread) and blocks it for the simulated time, as a device call would; a
/// batch may run whole (<see cref="Run"/>) or a step at a time (<see cref="Begin"/>), as the real engine's. One thread
/// drives one instance.
/// </summary>
public sealed class SimulatedDevice
{
    private readonly A1Engine _engine;
    private readonly ModelPrices _prices;
    private readonly float[] _pose;
    private long _schedule;
    private long _awake;

    /// <param name="engine">The loaded model (its shape, exits and action ranges; never run here).</param>
    /// <param name="batchOne">Prices measured at batch 1.</param>
    /// <param name="batchMax">Prices measured at the engine's largest batch: sizes in between are interpolated linearly.</param>
    public SimulatedDevice(A1Engine engine, PartTimings batchOne, PartTimings batchMax)
    {
        _engine = engine;
        _prices = new ModelPrices(batchOne, batchMax);
        var action = engine.Manifest.Action;
        _pose = [.. engine.ValidDims.Select(d => (action.Q01[d] + action.Q99[d]) / 2)];
    }

    public string ModelId => _engine.ModelId;

    /// <summary>The price of one part at <paramref name="batch"/> rows.</summary>
    public double PriceMs(Func<PartTimings, double> part, int batch) => _prices.PriceMs(part, batch);

    /// <summary>Runs a whole batch: the steps of <see cref="Begin"/>, one after the other.</summary>
    public InferenceResult[] Run(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null,
        CancellationToken cancellationToken = default)
    {
        using var batch = Begin(requests, statistics, onResult, cancellationToken);
        while (!batch.Step())
        {
        }

        return batch.Results;
    }

    /// <summary>
    /// Starts a batch that the caller advances a step at a time, as <see cref="A1Engine.Begin"/>: the prefix, then one
    /// LM layer (with the head where that layer needs it) per step, each spending its price at the rows still in the
    /// batch. Steps of several batches may interleave: the device's time runs on one schedule for all of them.
    /// </summary>
    public ISteppedBatch Begin(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null,
        CancellationToken cancellationToken = default) => new SimulatedBatch(this, requests, statistics, onResult, cancellationToken);

    /// <summary>
    /// Blocks until <paramref name="ms"/> past the device's running schedule, so sleep overshoot does not accumulate: steps
    /// that follow one another at once (whichever batch they belong to) continue the schedule, and a sleep that overshot
    /// is made up by the next; after the device was idle the schedule restarts from now.
    /// </summary>
    private double Spend(double ms, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = Stopwatch.GetTimestamp();
        var idle = now - _awake > Stopwatch.Frequency / 1000;
        _schedule = (idle ? Math.Max(_schedule, now) : _schedule) + (long)(Math.Max(0, ms) * Stopwatch.Frequency / 1000.0);
        var wait = Stopwatch.GetElapsedTime(now, _schedule);
        if (wait > TimeSpan.Zero)
        {
            Thread.Sleep(wait);
        }

        _awake = Stopwatch.GetTimestamp();
        return ms;
    }

    private sealed class SimulatedBatch : ISteppedBatch
    {
        private readonly SimulatedDevice _device;
        private readonly BatchStatistics? _statistics;
        private readonly Action<int, InferenceResult>? _onResult;
        private readonly CancellationToken _cancellationToken;
        private readonly List<Row> _active;
        private readonly int _deepest;
        private readonly int _count;
        private long _firstStep;
        private double _busyMs;
        private double _prefixMs;
        private double _lmMs;
        private double _headMs;
        private int _nextLayer = -1;
        private int _layersRun;
        private int _headRuns;

        public SimulatedBatch(SimulatedDevice device, IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics, Action<int, InferenceResult>? onResult,
            CancellationToken cancellationToken)
        {
            _device = device;
            _statistics = statistics;
            _onResult = onResult;
            _cancellationToken = cancellationToken;
            _count = requests.Count;
            Results = new InferenceResult[requests.Count];
            var engine = device._engine;
            var exits = engine.ExitLayers;
            _active = new List<Row>(requests.Count);
            for (var i = 0; i < requests.Count; i++)
            {
                if (device.Invalid(requests[i]) is { } problem)
                {
                    Publish(i, InferenceResult.Failure(InferenceErrorKind.InvalidInput, problem));
                    continue;
                }

                var r = requests[i];
                var earlyExit = (r.Decode ?? DecodeSettings.EarlyExitWarmK2).Mode == ExitMode.EarlyExit;
                var final = engine.SnapToExit(r.MaxLayer ?? (engine.Layers - 1));
                var drawn = earlyExit ? exits[(int)(Mix(r.Seed) % (ulong)exits.Count)] : exits[^1];
                var steps = engine.IsFlowMatching ? (r.Decode ?? DecodeSettings.EarlyExitWarmK2).DenoisingSteps : 0;
                _active.Add(new Row(i, Math.Min(final, drawn), final < drawn && final < exits[^1], steps));
            }

            _deepest = _active.Count == 0 ? -1 : _active.Max(r => r.ExitLayer);
            IsCompleted = _active.Count == 0;
        }

        public bool IsCompleted { get; private set; }

        public InferenceResult[] Results { get; }

        public int RemainingSteps => IsCompleted ? 0 : (_nextLayer < 0 ? _deepest + 2 : Math.Max(0, RemainingDeepest - _nextLayer + 1));

        public int Rows => IsCompleted ? 0 : _active.Count;

        public int NextLayer => _nextLayer;

        public int StepsUntil(int layer) => _nextLayer < 0 ? 1 + layer : layer - _nextLayer;

        /// <summary>The simulated device does not join batches: each runs its own steps, as on the device before joining.</summary>
        public bool TryJoin(ISteppedBatch other) => false;

        public bool Joinable => false;

        public bool HasGuests => false;

        private int RemainingDeepest => _active.Count == 0 ? -1 : _active.Max(r => r.ExitLayer);

        public bool Step()
        {
            if (IsCompleted)
            {
                return true;
            }

            var t0 = Stopwatch.GetTimestamp();
            if (_firstStep == 0)
            {
                _firstStep = t0;
            }

            try
            {
                if (_nextLayer < 0)
                {
                    _prefixMs = _device.Spend(_device.PriceMs(p => p.PrefixMs, _active.Count), _cancellationToken);
                    _nextLayer = 0;
                }
                else
                {
                    RunLayer(_nextLayer++);
                }
            }
            catch (OperationCanceledException)
            {
                foreach (var row in _active)
                {
                    Publish(row.Index, InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was canceled"));
                }

                _active.Clear();
                Finish(t0);
                throw;
            }

            if (_active.Count == 0 || _nextLayer > _deepest)
            {
                Finish(t0);
            }
            else
            {
                _busyMs += Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }

            return IsCompleted;
        }

        /// <summary>As the engine's step: the FM runs the block before the head (the expert reads its K/V); the MLP runs the head first and the block only for the rows that go deeper.</summary>
        private void RunLayer(int layer)
        {
            if (_device._engine.IsFlowMatching)
            {
                RunBlock();
                RunHeadAndExits(layer);
                return;
            }

            RunHeadAndExits(layer);
            if (_active.Count > 0)
            {
                RunBlock();
            }
        }

        private void RunBlock()
        {
            _lmMs += _device.Spend(_device.PriceMs(p => p.LanguageModelLayerMs, _active.Count), _cancellationToken);
            _layersRun++;
        }

        private void RunHeadAndExits(int layer)
        {
            var exits = _device._engine.ExitLayers;
            var isExit = exits.Contains(layer);
            if (!isExit && layer != exits[0] - 1)
            {
                return;
            }

            var maxSteps = _active.Max(r => r.Steps);
            _headMs += _device.Spend(_device.HeadMs(layer, _active.Count, maxSteps), _cancellationToken);
            _headRuns++;
            if (!isExit)
            {
                return;
            }

            for (var k = _active.Count - 1; k >= 0; k--)
            {
                var row = _active[k];
                row.HeadCalls++;
                if (row.ExitLayer != layer)
                {
                    continue;
                }

                _active.RemoveAt(k);
                Publish(row.Index, _device.Result(row, layer, Stopwatch.GetElapsedTime(_firstStep).TotalMilliseconds, _prefixMs, _lmMs, _headMs));
            }
        }

        private void Finish(long stepStarted)
        {
            _busyMs += Stopwatch.GetElapsedTime(stepStarted).TotalMilliseconds;
            IsCompleted = true;
            if (_statistics is not null)
            {
                _statistics.Requests += _count;
                _statistics.LanguageModelLayerRuns += _layersRun;
                _statistics.HeadRuns += _headRuns;
                _statistics.TotalMs += _busyMs;
            }
        }

        private void Publish(int index, InferenceResult result)
        {
            Results[index] = result;
            _onResult?.Invoke(index, result);
        }

        public void Dispose()
        {
            if (IsCompleted)
            {
                return;
            }

            foreach (var row in _active)
            {
                Publish(row.Index, InferenceResult.Failure(InferenceErrorKind.Canceled, "the batch was abandoned before this request finished"));
            }

            _active.Clear();
            IsCompleted = true;
        }
    }

    private double HeadMs(int layer, int batch, int steps) => _prices.HeadMs(layer, batch, steps);

    private InferenceResult Result(Row row, int layer, double totalMs, double prefixMs, double lmMs, double headMs)
    {
        var chunk = _engine.Manifest.Action.Chunk;
        var actions = new float[chunk * _pose.Length];
        for (var h = 0; h < chunk; h++)
        {
            _pose.CopyTo(actions, h * _pose.Length);
        }

        return new InferenceResult
        {
            Actions = actions,
            Chunk = chunk,
            ActionDim = _pose.Length,
            ExitLayer = layer,
            ExitIndex = _engine.ExitLayers.ToList().IndexOf(layer),
            // Every row runs from block 0 until it leaves.
            LayersRun = ThresholdCalibrator.BlocksRun(layer, exitBlockRuns: _engine.IsFlowMatching),
            HeadCalls = row.HeadCalls,
            DenoisingSteps = row.Steps * row.HeadCalls,
            StoppedAtCap = row.Capped,
            PrefixMs = prefixMs,
            LanguageModelMs = lmMs,
            HeadMs = headMs,
            TotalMs = totalMs,
        };
    }

    private string? Invalid(InferenceRequest r)
    {
        var stateDim = _engine.Manifest.State.Dim;
        if (r.State is null || r.State.Length != stateDim || !r.State.All(float.IsFinite))
        {
            return $"state has {r.State?.Length ?? 0} values; the model expects {stateDim} finite values";
        }

        if (r.Images is null || r.Images.Count != _engine.Manifest.Cameras.Count)
        {
            return $"{r.Images?.Count ?? 0} images; the model has {_engine.Manifest.Cameras.Count} cameras";
        }

        return r.MaxLayer is < 0 ? $"max layer {r.MaxLayer} is negative" : null;
    }

    private static ulong Mix(ulong seed)
    {
        seed ^= seed >> 33;
        seed *= 0xFF51AFD7ED558CCDUL;
        seed ^= seed >> 33;
        return seed;
    }

    private sealed class Row(int index, int exitLayer, bool capped, int steps)
    {
        public int Index { get; } = index;
        public int ExitLayer { get; } = exitLayer;
        public bool Capped { get; } = capped;
        public int Steps { get; } = steps;
        public int HeadCalls { get; set; }
    }
}
