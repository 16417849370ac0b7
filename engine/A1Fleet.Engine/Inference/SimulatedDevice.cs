using System.Diagnostics;

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
/// Runs on the caller's thread (the device thread) and blocks it for the simulated time, as a device call would.
/// </summary>
public sealed class SimulatedDevice
{
    private readonly A1Engine _engine;
    private readonly PartTimings _one;
    private readonly PartTimings _max;
    private readonly float[] _pose;

    /// <param name="engine">The loaded model (its shape, exits and action ranges; never run here).</param>
    /// <param name="batchOne">Prices measured at batch 1.</param>
    /// <param name="batchMax">Prices measured at the engine's largest batch: sizes in between are interpolated linearly.</param>
    public SimulatedDevice(A1Engine engine, PartTimings batchOne, PartTimings batchMax)
    {
        _engine = engine;
        _one = batchOne;
        _max = batchMax;
        var action = engine.Manifest.Action;
        _pose = [.. engine.ValidDims.Select(d => (action.Q01[d] + action.Q99[d]) / 2)];
    }

    public string ModelId => _engine.ModelId;

    /// <summary>The price of one part at <paramref name="batch"/> rows.</summary>
    public double PriceMs(Func<PartTimings, double> part, int batch)
    {
        if (batch <= 1 || _max.Batch <= _one.Batch)
        {
            return part(_one);
        }

        var w = Math.Min(1.0, (double)(batch - _one.Batch) / (_max.Batch - _one.Batch));
        return part(_one) + (w * (part(_max) - part(_one)));
    }

    public InferenceResult[] Run(IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null,
        CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var results = new InferenceResult[requests.Count];
        var exits = _engine.ExitLayers;
        var active = new List<Row>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            if (Invalid(requests[i]) is { } problem)
            {
                results[i] = InferenceResult.Failure(InferenceErrorKind.InvalidInput, problem);
                onResult?.Invoke(i, results[i]);
                continue;
            }

            var r = requests[i];
            var earlyExit = (r.Decode ?? DecodeSettings.EarlyExitWarmK2).Mode == ExitMode.EarlyExit;
            var final = _engine.SnapToExit(r.MaxLayer ?? (_engine.Layers - 1));
            var drawn = earlyExit ? exits[(int)(Mix(r.Seed) % (ulong)exits.Count)] : exits[^1];
            var steps = _engine.IsFlowMatching ? (r.Decode ?? DecodeSettings.EarlyExitWarmK2).DenoisingSteps : 0;
            active.Add(new Row(i, Math.Min(final, drawn), final < drawn && final < exits[^1], steps));
        }

        var clock = started;
        var prefixMs = Spend(ref clock, PriceMs(p => p.PrefixMs, active.Count), cancellationToken);
        var lmMs = 0.0;
        var headMs = 0.0;
        var layersRun = 0;
        var headRuns = 0;
        for (var layer = 0; layer < _engine.Layers && active.Count > 0; layer++)
        {
            lmMs += Spend(ref clock, PriceMs(p => p.LanguageModelLayerMs, active.Count), cancellationToken);
            layersRun++;
            var isExit = exits.Contains(layer);
            if (!isExit && layer != exits[0] - 1)
            {
                continue;
            }

            var maxSteps = active.Max(r => r.Steps);
            headMs += Spend(ref clock, HeadMs(layer, active.Count, maxSteps), cancellationToken);
            headRuns++;
            if (!isExit)
            {
                continue;
            }

            for (var k = active.Count - 1; k >= 0; k--)
            {
                var row = active[k];
                row.HeadCalls++;
                if (row.ExitLayer != layer)
                {
                    continue;
                }

                active.RemoveAt(k);
                var result = Result(row, layer, Stopwatch.GetElapsedTime(started).TotalMilliseconds, prefixMs, lmMs, headMs);
                results[row.Index] = result;
                onResult?.Invoke(row.Index, result);
            }
        }

        if (statistics is not null)
        {
            statistics.Requests += requests.Count;
            statistics.LanguageModelLayerRuns += layersRun;
            statistics.HeadRuns += headRuns;
            statistics.TotalMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        return results;
    }

    private double HeadMs(int layer, int batch, int steps) =>
        _engine.IsFlowMatching
            ? steps * (PriceMs(p => p.ExpertSuffixMs + p.ExpertOutputMs, batch) + ((layer + 1) * PriceMs(p => p.ExpertLayerMs, batch)))
            : PriceMs(p => p.MlpHeadMs, batch);

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
            LayersRun = layer + 1,
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

    /// <summary>Blocks until <paramref name="ms"/> past the running schedule (so sleep overshoot does not accumulate); returns <paramref name="ms"/>.</summary>
    private static double Spend(ref long schedule, double ms, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        schedule += (long)(Math.Max(0, ms) * Stopwatch.Frequency / 1000.0);
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), schedule);
        if (wait > TimeSpan.Zero)
        {
            Thread.Sleep(wait);
        }

        return ms;
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
