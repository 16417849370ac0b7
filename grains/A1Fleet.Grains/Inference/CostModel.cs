using A1Fleet.Engine.Inference;

namespace A1Fleet.Grains.Inference;

/// <summary>
/// Predicts how long a batch takes to bring a request to a given layer. The shape comes from the
/// engine's per-part prices at batch 1 (prefix, LM layer, head work at each exit); a per-batch-size
/// factor, learned online from every finished batch, scales it to the device as it behaves now.
/// </summary>
public sealed class CostModel
{
    private const double LearningRate = 0.3;
    private readonly PartTimings _prior;
    private readonly IReadOnlyList<int> _exitLayers;
    private readonly double[] _factor;
    private readonly bool[] _observed;

    public CostModel(PartTimings batchOnePrices, IReadOnlyList<int> exitLayers, int maxBatch)
    {
        _prior = batchOnePrices;
        _exitLayers = exitLayers;
        _factor = new double[maxBatch + 1];
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

    /// <summary>Predicted ms for a batch of <paramref name="batch"/> to finish a request at <paramref name="layer"/>.</summary>
    public double Predict(int batch, int layer, DecodeSettings decode) => Factor(batch) * BatchOneCost(layer, decode);

    /// <summary>Predicted ms of one LM layer (no head) at <paramref name="batch"/> rows: the step a batch in flight never gives up halfway.</summary>
    public double LayerMs(int batch) => Factor(batch) * _prior.LanguageModelLayerMs;

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

    public void Observe(int batch, int deepestLayer, DecodeSettings decode, double actualMs)
    {
        batch = Math.Clamp(batch, 1, _factor.Length - 1);
        var expected = BatchOneCost(deepestLayer, decode);
        if (expected <= 0 || !double.IsFinite(actualMs))
        {
            return;
        }

        var ratio = actualMs / expected;
        _factor[batch] = _observed[batch] ? ((1 - LearningRate) * _factor[batch]) + (LearningRate * ratio) : ratio;
        _observed[batch] = true;
    }

    private double BatchOneCost(int layer, DecodeSettings decode)
    {
        var p = _prior;
        var cost = p.PrefixMs + ((layer + 1) * p.LanguageModelLayerMs);
        var perStep = p.ExpertSuffixMs + p.ExpertOutputMs;
        double Head(int at) => p.MlpHeadMs > 0 ? p.MlpHeadMs : decode.DenoisingSteps * (perStep + ((at + 1) * p.ExpertLayerMs));
        if (decode.Mode == ExitMode.FullDepth)
        {
            return cost + Head(layer);
        }

        cost += Head(_exitLayers[0] - 1);
        foreach (var exit in _exitLayers)
        {
            if (exit <= layer)
            {
                cost += Head(exit);
            }
        }

        return cost;
    }
}
