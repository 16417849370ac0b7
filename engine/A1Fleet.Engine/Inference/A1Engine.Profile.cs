using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Inference;

/// <summary>Median time of one bare run of each graph kind, at one batch size.</summary>
public sealed record PartTimings(int Batch, double PrefixMs, double LanguageModelLayerMs, double MlpHeadMs, double ExpertSuffixMs, double ExpertLayerMs, double ExpertOutputMs)
{
    /// <summary>Predicted graph time of a request from the work it did, each unit priced alone.</summary>
    public double Predict(InferenceResult r) =>
        PrefixMs
        + (r.LayersRun * LanguageModelLayerMs)
        + (r.ExpertLayerSteps * ExpertLayerMs)
        + (r.DenoisingSteps * (ExpertSuffixMs + ExpertOutputMs))
        + (MlpHeadMs > 0 ? r.HeadCalls * MlpHeadMs : 0);

    /// <summary>
    /// One head call at exit <paramref name="layer"/>: the MLP once, or (a flow-matching model, which prices no MLP head)
    /// <paramref name="denoisingSteps"/> passes of the expert over the K/V of LM blocks 0..<paramref name="layer"/>.
    /// </summary>
    public double HeadMs(int layer, int denoisingSteps) =>
        MlpHeadMs > 0 ? MlpHeadMs : denoisingSteps * (ExpertSuffixMs + ExpertOutputMs + ((layer + 1) * ExpertLayerMs));
}

public sealed partial class A1Engine
{
    /// <summary>
    /// Prices each graph alone through the engine's own bindings (what the benchmark's cost model
    /// uses). Runs on whatever a free set of buffers holds, so call it after at least one real batch; never on the
    /// buffers of a batch in flight (with every pooled set in flight it borrows one for the measure).
    /// </summary>
    public PartTimings MeasureParts(int batch, int repetitions = 20) =>
        OnFreeContext(batch, context => Measure(context.Buffers, context.RunOptions, batch, repetitions));

    /// <summary>Runs <paramref name="measure"/> under the gate on a free set of buffers (or one borrowed for it), for <paramref name="batch"/> rows.</summary>
    private T OnFreeContext<T>(int batch, Func<BatchContext, T> measure)
    {
        if (batch < 1 || batch > MaxBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be within 1..{MaxBatchSize}");
        }

        lock (_gate)
        {
            var context = Rent() ?? NewContext(pooled: false);
            try
            {
                return measure(context);
            }
            finally
            {
                Release(context);
            }
        }
    }

    /// <summary>
    /// Makes every buffer set of <see cref="MaxBatchesInFlight"/> and runs every graph at <see cref="MaxBatchSize"/> rows,
    /// so that the sets and ONNX Runtime's arenas take a full batch's working memory at start instead of under the first
    /// heavy load, and returns what the parts cost there (three runs each:
    /// a silo's cost models take the shape of batching from it). A silo that first met full batches under 3x load grew
    /// its RSS by 142-267 MB in the next minute; warmed up at start, by 42-55 MB (docs/benchmarks.md, "The real engine on
    /// a quiet machine"). Later results are the same as without it, bit for bit. Unless <see cref="EngineOptions.ExpertLayersPerStep"/>
    /// is set, it also sizes the steps a flow-matching head runs in from these prices (<see cref="ExpertLayersPerStep"/>).
    /// </summary>
    public PartTimings WarmUp()
    {
        lock (_gate)
        {
            // Every buffer set a batch in flight may need, made now: a silo's first concurrent batches then do not wait
            // for theirs to be allocated (about 4 MB a row for small-fm) under its first load.
            while (_contexts.Count < MaxBatchesInFlight)
            {
                _free.Push(NewContext(pooled: true));
            }
        }

        var parts = MeasureParts(MaxBatchSize, repetitions: 3);
        if (Options.ExpertLayersPerStep is null && _dims.IsFlowMatching)
        {
            // About one LM layer of expert work a step, at the size where an expert layer costs the most against an LM
            // layer: a lone row (ONNX Runtime's cost per run weighs most there; at 16 rows small-fm's whole pass took
            // less than a layer, at 1 row about 1.6 layers). A head under way goes on from the expert layer it reached.
            var one = MeasureParts(1, repetitions: 3);
            var perStep = Math.Min(LayersWorth(one), LayersWorth(parts));
            lock (_gate)
            {
                _expertLayersPerStep = perStep;
            }
        }

        return parts;
    }

    /// <summary>Expert layers that take about one LM layer at the size <paramref name="p"/> was measured at (1..Layers).</summary>
    private int LayersWorth(PartTimings p) =>
        p.ExpertLayerMs > 0 ? Math.Clamp((int)Math.Floor(p.LanguageModelLayerMs / p.ExpertLayerMs), 1, _dims.Layers) : _dims.Layers;

    /// <summary>
    /// Prices each step the prefix runs as (<see cref="PrefixSteps"/>: its stages, or the whole prefix) at
    /// <paramref name="batch"/> rows, in order: a batch arriving while another's prefix runs waits for at most the longest.
    /// </summary>
    public IReadOnlyList<double> MeasurePrefixSteps(int batch, int repetitions = 20) =>
        OnFreeContext<IReadOnlyList<double>>(batch, context => _graphs.PrefixStages.Length == 0
            ? [Median(repetitions, () => _graphs.Prefix.Run(context.RunOptions, _graphs.PrefixBinding(context.Buffers, batch)))]
            : [.. _graphs.PrefixStages.Select((graph, k) => Median(repetitions, () => graph.Run(context.RunOptions, _graphs.PrefixStageBinding(context.Buffers, k, batch))))]);

    /// <summary>How many steps a batch's prefix takes: its stages (<c>ModelFiles.PrefixStages</c>), or 1 when it runs whole.</summary>
    public int PrefixSteps => Math.Max(1, _graphs.PrefixStages.Length);

    private PartTimings Measure(EngineBuffers buffers, RunOptions runOptions, int batch, int repetitions)
    {
        // The prefix as batches run it: whole, or its stages one after the other.
        var prefix = Median(repetitions, () =>
        {
            if (_graphs.PrefixStages.Length == 0)
            {
                _graphs.Prefix.Run(runOptions, _graphs.PrefixBinding(buffers, batch));
                return;
            }

            for (var k = 0; k < _graphs.PrefixStages.Length; k++)
            {
                _graphs.PrefixStages[k].Run(runOptions, _graphs.PrefixStageBinding(buffers, k, batch));
            }
        });
        var lm = Median(repetitions, () =>
        {
            for (var l = 0; l < _dims.Layers; l++)
            {
                _graphs.LanguageModel[l].Run(runOptions, _graphs.LanguageModelBinding(buffers, l, batch));
            }
        }) / _dims.Layers;
        if (!_dims.IsFlowMatching)
        {
            var head = Median(repetitions, () => _graphs.MlpHead!.Run(runOptions, _graphs.MlpHeadBinding(buffers, _dims.Layers - 1, batch)));
            return new PartTimings(batch, prefix, lm, head, 0, 0, 0);
        }

        var suffix = Median(repetitions, () => _graphs.ExpertSuffix!.Run(runOptions, _graphs.ExpertSuffixBinding(buffers, batch)));
        var expert = Median(repetitions, () =>
        {
            for (var l = 0; l < _dims.Layers; l++)
            {
                _graphs.ExpertLayers[l].Run(runOptions, _graphs.ExpertLayerBinding(buffers, l, batch));
            }
        }) / _dims.Layers;
        var output = Median(repetitions, () => _graphs.ExpertOutput!.Run(runOptions, _graphs.ExpertOutputBinding(buffers, _dims.Layers, batch)));
        return new PartTimings(batch, prefix, lm, 0, suffix, expert, output);
    }

    private static double Median(int repetitions, Action run)
    {
        run();
        var samples = new double[Math.Max(1, repetitions)];
        for (var i = 0; i < samples.Length; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            run();
            samples[i] = TicksToMs(Stopwatch.GetTimestamp() - t0);
        }

        Array.Sort(samples);
        return samples[samples.Length / 2];
    }
}
