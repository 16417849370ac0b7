using A1Fleet.Engine.Inference;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// Predicts how long a batch takes to bring a request to a given layer. The shape comes from the
/// engine's per-part prices at batch 1 (prefix, LM layer, head work at each exit); a per-batch-size
/// factor, learned online from every finished batch, scales it to the device as it behaves now.
/// Predictions plan for the device's recent spread, not its average: the factor plus
/// <see cref="SpreadsPlannedFor"/> times how far batches of that size have recently strayed from it.
/// </summary>
public sealed class CostModel
{
    private const double LearningRate = 0.3;

    /// <summary>
    /// The spread is averaged over about ten batches: slower than the factor, so that one outlier widens plans for a
    /// while instead of moving them back and forth.
    /// </summary>
    private const double SpreadLearningRate = 0.1;

    /// <summary>
    /// Mean absolute deviations added to the factor when planning. A plan on the average factor is late for every batch
    /// slower than average (on a shared CPU, answers planned to the edge of their deadline missed it by the 10-15 % the
    /// device strayed); two deviations cover about 95 % of a normal spread.
    /// </summary>
    public const double SpreadsPlannedFor = 2;

    /// <summary>The most one finished batch can change the factor it teaches, either way (a device really this much slower is learned over a few batches).</summary>
    public const double MaxStepRatio = 4;

    private readonly PartTimings _prior;
    private readonly IReadOnlyList<int> _exitLayers;
    private readonly double[] _factor;
    private readonly double[] _spread;
    private readonly bool[] _observed;

    public CostModel(PartTimings batchOnePrices, IReadOnlyList<int> exitLayers, int maxBatch)
    {
        _prior = batchOnePrices;
        _exitLayers = exitLayers;
        _factor = new double[maxBatch + 1];
        _spread = new double[maxBatch + 1];
        _observed = new bool[maxBatch + 1];
        for (var b = 1; b <= maxBatch; b++)
        {
            // Until a batch of this size has run, assume no batching gain: late beats wrong.
            _factor[b] = b;
        }
    }

    public int FirstExit => _exitLayers[0];

    public int LastExit => _exitLayers[^1];

    /// <summary>
    /// Observed time over batch-1 prices at this batch size. A size not yet run scales the largest smaller size that
    /// has (no batching gain beyond it), or the size itself when none has: late beats wrong.
    /// </summary>
    public double Factor(int batch)
    {
        batch = Math.Clamp(batch, 1, _factor.Length - 1);
        if (_observed[batch])
        {
            return _factor[batch];
        }

        for (var s = batch - 1; s >= 1; s--)
        {
            if (_observed[s])
            {
                return _factor[s] * batch / s;
            }
        }

        return _factor[batch];
    }

    /// <summary>
    /// How far batches of this size recently strayed from <see cref="Factor"/> (an average of absolute deviations); a
    /// size not yet run scales the largest smaller size that has, as <see cref="Factor"/> does, or 0 when none has.
    /// </summary>
    public double Spread(int batch)
    {
        batch = Math.Clamp(batch, 1, _factor.Length - 1);
        for (var s = batch; s >= 1; s--)
        {
            if (_observed[s])
            {
                return _spread[s] * batch / s;
            }
        }

        return 0;
    }

    /// <summary>The factor plans use: <see cref="Factor"/> plus <see cref="SpreadsPlannedFor"/> times <see cref="Spread"/>.</summary>
    public double PlanningFactor(int batch) => Factor(batch) + (SpreadsPlannedFor * Spread(batch));

    /// <summary>Predicted ms for a batch of <paramref name="batch"/> to finish a request at <paramref name="layer"/>, planning for the device's spread.</summary>
    public double Predict(int batch, int layer, DecodeSettings decode) => PlanningFactor(batch) * BatchOneCost(layer, decode);

    /// <summary>Predicted ms of one LM layer (no head) at <paramref name="batch"/> rows: the step a batch in flight never gives up halfway.</summary>
    public double LayerMs(int batch) => PlanningFactor(batch) * _prior.LanguageModelLayerMs;

    /// <summary>The deepest exit layer a request can reach within <paramref name="availableMs"/>, or null if even the first exit cannot.</summary>
    public int? DeepestExitWithin(int batch, double availableMs, DecodeSettings decode)
    {
        int? best = null;
        foreach (var exit in _exitLayers)
        {
            if (Predict(batch, exit, decode) <= availableMs)
            {
                best = exit;
            }
        }

        return best;
    }

    /// <summary>Learns from a batch in which every row ran to <paramref name="deepestLayer"/>.</summary>
    public void Observe(int batch, int deepestLayer, DecodeSettings decode, double actualMs)
    {
        batch = Math.Clamp(batch, 1, _factor.Length - 1);
        Span<int> rows = stackalloc int[batch];
        rows.Fill(deepestLayer);
        Observe(rows, decode, actualMs);
    }

    /// <summary>
    /// Learns from a finished batch, given the layer each row left at (negative: the row left after the prefix, as a
    /// failed row does). The engine drops rows as they exit, so a batch whose rows left early cost less than its size
    /// at its deepest layer: judging it that way taught factors too small, and batches whose rows all ran to their caps
    /// then overran their predictions (a 1,964 ms run predicted at 1,752). The batch is priced step by step at the rows
    /// still in it, and only its own size's factor moves by what that price missed.
    /// </summary>
    public void Observe(ReadOnlySpan<int> rowExitLayers, DecodeSettings decode, double actualMs)
    {
        if (rowExitLayers.IsEmpty || !double.IsFinite(actualMs) || actualMs <= 0)
        {
            return;
        }

        var batch = Math.Clamp(rowExitLayers.Length, 1, _factor.Length - 1);
        var predicted = StepwiseCost(rowExitLayers, decode);
        if (predicted <= 0)
        {
            return;
        }

        // One batch moves the factor at most MaxStepRatio-fold: a batch timed across a stall of the whole process (a
        // 2.5 s GC pause was seen under a loaded test run) is not the device's speed, and a factor learned from it would
        // predict every request past its deadline, refuse them all and never run a batch to unlearn it.
        var target = Factor(batch) * Math.Clamp(actualMs / predicted, 1 / MaxStepRatio, MaxStepRatio);
        if (_observed[batch])
        {
            _spread[batch] = ((1 - SpreadLearningRate) * _spread[batch]) + (SpreadLearningRate * Math.Abs(target - _factor[batch]));
            _factor[batch] = ((1 - LearningRate) * _factor[batch]) + (LearningRate * target);
        }
        else
        {
            _factor[batch] = target;
        }

        _observed[batch] = true;
    }

    /// <summary>What a batch costs with the current factors when each step runs at the rows still in it.</summary>
    private double StepwiseCost(ReadOnlySpan<int> rowExitLayers, DecodeSettings decode)
    {
        var deepest = -1;
        foreach (var layer in rowExitLayers)
        {
            deepest = Math.Max(deepest, layer);
        }

        // Rows still in the batch at each layer (a row stays up to and including the layer it left at), as factors.
        Span<int> active = stackalloc int[deepest + 1];
        foreach (var exit in rowExitLayers)
        {
            for (var layer = 0; layer <= exit; layer++)
            {
                active[layer]++;
            }
        }

        Span<double> heads = stackalloc double[deepest + 1];
        Span<double> blocks = stackalloc double[deepest + 1];
        for (var layer = 0; layer <= deepest; layer++)
        {
            heads[layer] = Factor(Math.Min(active[layer], _factor.Length - 1));
            // The MLP head runs before its block, and that block only for the rows that go deeper.
            var blockRows = HeadReadsBlockInput ? (layer < deepest ? active[layer + 1] : 0) : active[layer];
            blocks[layer] = blockRows == 0 ? 0 : Factor(Math.Min(blockRows, _factor.Length - 1));
        }

        return Cost(Factor(Math.Min(rowExitLayers.Length, _factor.Length - 1)), blocks, heads, decode);
    }

    private double BatchOneCost(int layer, DecodeSettings decode)
    {
        Span<double> heads = stackalloc double[layer + 1];
        heads.Fill(1);
        Span<double> blocks = stackalloc double[layer + 1];
        blocks.Fill(1);
        if (HeadReadsBlockInput)
        {
            blocks[layer] = 0;
        }

        return Cost(1, blocks, heads, decode);
    }

    /// <summary>
    /// An MLP model: its head at exit l reads the stream entering block l (A1's convention), so a request that exits at l
    /// runs l LM blocks; the FM expert at exit l needs block l's K/V, so l + 1.
    /// </summary>
    private bool HeadReadsBlockInput => _prior.MlpHeadMs > 0;

    /// <summary>
    /// The batch-1 prices of the prefix, LM layers 0..(length - 1) and the heads at them, each weighed: the prefix by
    /// <paramref name="prefixWeight"/>, a layer's block by its <paramref name="blockWeights"/> and the head at it by its
    /// <paramref name="headWeights"/>.
    /// </summary>
    private double Cost(double prefixWeight, ReadOnlySpan<double> blockWeights, ReadOnlySpan<double> headWeights, DecodeSettings decode)
    {
        var p = _prior;
        var deepest = headWeights.Length - 1;
        var cost = prefixWeight * p.PrefixMs;
        foreach (var weight in blockWeights)
        {
            cost += weight * p.LanguageModelLayerMs;
        }

        if (deepest < 0)
        {
            return cost;
        }

        if (decode.Mode == ExitMode.FullDepth)
        {
            return cost + (headWeights[deepest] * HeadMs(deepest, decode));
        }

        // The exit test at the first exit compares with the head on the stream entering it.
        if (_exitLayers[0] <= deepest)
        {
            cost += headWeights[_exitLayers[0]] * HeadMs(_exitLayers[0] - 1, decode);
        }

        foreach (var exit in _exitLayers)
        {
            if (exit <= deepest)
            {
                cost += headWeights[exit] * HeadMs(exit, decode);
            }
        }

        return cost;
    }

    /// <summary>Batch-1 price of the head at an exit: the MLP once, or the expert's denoising steps over the K/V of LM blocks 0..at.</summary>
    private double HeadMs(int at, DecodeSettings decode)
    {
        var p = _prior;
        return p.MlpHeadMs > 0 ? p.MlpHeadMs : decode.DenoisingSteps * (p.ExpertSuffixMs + p.ExpertOutputMs + ((at + 1) * p.ExpertLayerMs));
    }
}
