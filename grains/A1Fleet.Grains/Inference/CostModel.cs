using A1Fleet.Engine.Inference;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// Predicts how long a batch takes to bring a request to a given layer. The shape comes from the engine's per-part
/// prices at batch 1 and at its largest batch (<see cref="ModelPrices"/>: prefix, LM layer, head work at each exit, at
/// any number of rows); a factor, learned online from every finished batch, scales it to the device as it behaves now.
/// The factor has two parts: the device's <see cref="Speed"/>, which every batch teaches whatever its size (a device
/// slowed by other work is slower at every size, and sizes seen rarely would otherwise be planned on what the device
/// did minutes ago), and a slower correction per batch size for where the device's batching departs from the measured
/// shape. Predictions plan for the device's recent spread, not its average: the factor times one plus
/// <see cref="SpreadsPlannedFor"/> relative deviations of recent batches from their predictions.
/// </summary>
public sealed class CostModel
{
    /// <summary>How far one batch moves <see cref="Speed"/> towards what it showed.</summary>
    private const double SpeedLearningRate = 0.3;

    /// <summary>
    /// How far one batch moves its own size's correction: slower than the speed, so that a slow phase of the device is
    /// learned as the device and not as a shape of one size.
    /// </summary>
    private const double SizeLearningRate = 0.1;

    /// <summary>
    /// The spread is averaged over about ten batches: slower than the speed, so that one outlier widens plans for a
    /// while instead of moving them back and forth.
    /// </summary>
    private const double SpreadLearningRate = 0.1;

    /// <summary>
    /// Mean relative deviations added to the factor when planning. A plan on the average factor is late for every batch
    /// slower than average (on a shared CPU, answers planned to the edge of their deadline missed it by the 10-15 % the
    /// device strayed); two deviations cover about 95 % of a normal spread.
    /// </summary>
    public const double SpreadsPlannedFor = 2;

    /// <summary>The most one finished batch can change the factor it teaches, either way (a device really this much slower is learned over a few batches).</summary>
    public const double MaxStepRatio = 4;

    private readonly ModelPrices _prices;
    private readonly IReadOnlyList<int> _exitLayers;
    private readonly double[] _size;
    private double _speed = 1;
    private double _spread;

    /// <param name="prices">The prices the shape comes from; with batch-1 prices only, see <see cref="ModelPrices.WithoutBatchingGain"/>.</param>
    public CostModel(ModelPrices prices, IReadOnlyList<int> exitLayers, int maxBatch)
    {
        _prices = prices;
        _exitLayers = exitLayers;
        _size = new double[maxBatch + 1];
        Array.Fill(_size, 1.0);
    }

    /// <summary>A model priced at batch 1 only, assuming no batching gain until batches teach it otherwise: late beats wrong.</summary>
    public CostModel(PartTimings batchOnePrices, IReadOnlyList<int> exitLayers, int maxBatch)
        : this(ModelPrices.WithoutBatchingGain(batchOnePrices, maxBatch), exitLayers, maxBatch)
    {
    }

    public int FirstExit => _exitLayers[0];

    public int LastExit => _exitLayers[^1];

    /// <summary>How the device runs now against its measured prices (1: as measured; 2: twice as slow), learned from every batch.</summary>
    public double Speed => _speed;

    /// <summary>Observed time over the measured prices at this batch size: <see cref="Speed"/> times the size's own correction.</summary>
    public double Factor(int batch) => _speed * _size[Math.Clamp(batch, 1, _size.Length - 1)];

    /// <summary>How far batches recently strayed from their predictions, relative to them (an average of absolute deviations).</summary>
    public double Spread => _spread;

    /// <summary>The factor plans use: <see cref="Factor"/> times one plus <see cref="SpreadsPlannedFor"/> times <see cref="Spread"/>.</summary>
    public double PlanningFactor(int batch) => Factor(batch) * (1 + (SpreadsPlannedFor * _spread));

    /// <summary>Predicted ms for a batch of <paramref name="batch"/> to finish a request at <paramref name="layer"/>, planning for the device's spread.</summary>
    public double Predict(int batch, int layer, DecodeSettings decode) => PlanningFactor(batch) * WholeBatchCost(Math.Clamp(batch, 1, _size.Length - 1), layer, decode);

    /// <summary>Predicted ms of one LM layer (no head) at <paramref name="batch"/> rows: the step a batch in flight never gives up halfway.</summary>
    public double LayerMs(int batch) => PlanningFactor(batch) * _prices.PriceMs(static p => p.LanguageModelLayerMs, batch);

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
        batch = Math.Clamp(batch, 1, _size.Length - 1);
        Span<int> rows = stackalloc int[batch];
        rows.Fill(deepestLayer);
        Observe(rows, decode, actualMs);
    }

    /// <summary>
    /// Learns from a finished batch, given the layer each row left at (negative: the row left after the prefix, as a
    /// failed row does). The engine drops rows as they exit, so a batch whose rows left early cost less than its size
    /// at its deepest layer: judging it that way taught factors too small, and batches whose rows all ran to their caps
    /// then overran their predictions (a 1,964 ms run predicted at 1,752). The batch is priced step by step at the rows
    /// still in it; what that price missed by moves the speed, the size's correction and the spread.
    /// </summary>
    public void Observe(ReadOnlySpan<int> rowExitLayers, DecodeSettings decode, double actualMs)
    {
        if (rowExitLayers.IsEmpty || !double.IsFinite(actualMs) || actualMs <= 0)
        {
            return;
        }

        var batch = Math.Clamp(rowExitLayers.Length, 1, _size.Length - 1);
        var predicted = StepwiseCost(rowExitLayers, decode);
        if (predicted <= 0)
        {
            return;
        }

        // One batch moves the factor at most MaxStepRatio-fold: a batch timed across a stall of the whole process (a
        // 2.5 s GC pause was seen under a loaded test run) is not the device's speed, and a factor learned from it would
        // predict every request past its deadline, refuse them all and never run a batch to unlearn it.
        var ratio = Math.Clamp(actualMs / predicted, 1 / MaxStepRatio, MaxStepRatio);
        _spread = ((1 - SpreadLearningRate) * _spread) + (SpreadLearningRate * Math.Abs(ratio - 1));
        _speed *= 1 + (SpeedLearningRate * (ratio - 1));
        _size[batch] *= 1 + (SizeLearningRate * (ratio - 1));
    }

    /// <summary>What a batch costs with the current factors when each step runs at the rows still in it.</summary>
    private double StepwiseCost(ReadOnlySpan<int> rowExitLayers, DecodeSettings decode)
    {
        var deepest = -1;
        foreach (var layer in rowExitLayers)
        {
            deepest = Math.Max(deepest, layer);
        }

        // Rows still in the batch at each layer (a row stays up to and including the layer it left at).
        Span<int> active = stackalloc int[deepest + 1];
        foreach (var exit in rowExitLayers)
        {
            for (var layer = 0; layer <= exit; layer++)
            {
                active[layer]++;
            }
        }

        Span<int> blocks = stackalloc int[deepest + 1];
        for (var layer = 0; layer <= deepest; layer++)
        {
            // The MLP head runs before its block, and that block only for the rows that go deeper.
            blocks[layer] = HeadReadsBlockInput ? (layer < deepest ? active[layer + 1] : 0) : active[layer];
        }

        return Cost(Math.Clamp(rowExitLayers.Length, 1, _size.Length - 1), blocks, active, decode, weighed: true);
    }

    /// <summary>Every row of a batch of <paramref name="batch"/> to <paramref name="layer"/>, at the measured prices.</summary>
    private double WholeBatchCost(int batch, int layer, DecodeSettings decode)
    {
        Span<int> heads = stackalloc int[layer + 1];
        heads.Fill(batch);
        Span<int> blocks = stackalloc int[layer + 1];
        blocks.Fill(batch);
        if (HeadReadsBlockInput)
        {
            blocks[layer] = 0;
        }

        return Cost(batch, blocks, heads, decode, weighed: false);
    }

    /// <summary>
    /// An MLP model: its head at exit l reads the stream entering block l (A1's convention), so a request that exits at l
    /// runs l LM blocks; the FM expert at exit l needs block l's K/V, so l + 1.
    /// </summary>
    private bool HeadReadsBlockInput => _prices.BatchOne.MlpHeadMs > 0;

    /// <summary>
    /// The prefix at <paramref name="prefixRows"/> rows, LM layers 0..(length - 1) at <paramref name="blockRows"/> rows each
    /// and the heads at them at <paramref name="headRows"/> rows, at the measured prices for those row counts; each step
    /// <paramref name="weighed"/> by its row count's <see cref="Factor"/>, or (a whole batch, whose factor the caller applies) not.
    /// </summary>
    private double Cost(int prefixRows, ReadOnlySpan<int> blockRows, ReadOnlySpan<int> headRows, DecodeSettings decode, bool weighed)
    {
        var deepest = headRows.Length - 1;
        var cost = Weight(prefixRows, weighed) * _prices.PriceMs(static p => p.PrefixMs, prefixRows);
        foreach (var rows in blockRows)
        {
            if (rows > 0)
            {
                cost += Weight(rows, weighed) * _prices.PriceMs(static p => p.LanguageModelLayerMs, rows);
            }
        }

        if (deepest < 0)
        {
            return cost;
        }

        if (decode.Mode == ExitMode.FullDepth)
        {
            return cost + HeadCost(deepest, headRows[deepest], decode, weighed);
        }

        // The exit test at the first exit compares with the head on the stream entering it.
        if (_exitLayers[0] <= deepest)
        {
            cost += HeadCost(_exitLayers[0] - 1, headRows[_exitLayers[0]], decode, weighed);
        }

        foreach (var exit in _exitLayers)
        {
            if (exit <= deepest)
            {
                cost += HeadCost(exit, headRows[exit], decode, weighed);
            }
        }

        return cost;
    }

    private double Weight(int rows, bool weighed) => weighed ? Factor(rows) : 1;

    /// <summary>The head at an exit for <paramref name="rows"/> rows: the MLP once, or the expert's denoising steps over the K/V of LM blocks 0..at.</summary>
    private double HeadCost(int at, int rows, DecodeSettings decode, bool weighed)
    {
        if (rows <= 0)
        {
            return 0;
        }

        return Weight(rows, weighed) * _prices.HeadMs(at, rows, decode.DenoisingSteps);
    }
}
