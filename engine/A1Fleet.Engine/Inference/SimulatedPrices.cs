using System.Globalization;
using System.Text.Json;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// Per-part prices of one model, at batch 1 and at a larger batch (sizes in between interpolated), as
/// <see cref="A1Engine.MeasureParts"/> gives them: what a <see cref="SimulatedDevice"/> spends, and the shape an
/// inference grain's cost model scales.
/// </summary>
public sealed record ModelPrices(PartTimings BatchOne, PartTimings BatchMax)
{
    /// <summary>
    /// Prices known at batch 1 only, assumed to gain nothing from batching up to <paramref name="maxBatch"/> rows (each
    /// part costs its batch-1 price per row): a plan on them is late rather than wrong.
    /// </summary>
    public static ModelPrices WithoutBatchingGain(PartTimings batchOne, int maxBatch)
    {
        var n = Math.Max(1, maxBatch);
        return new ModelPrices(batchOne, new PartTimings(n, n * batchOne.PrefixMs, n * batchOne.LanguageModelLayerMs, n * batchOne.MlpHeadMs,
            n * batchOne.ExpertSuffixMs, n * batchOne.ExpertLayerMs, n * batchOne.ExpertOutputMs));
    }

    /// <summary>The price of one part at <paramref name="batch"/> rows: linear between the two measured sizes, the larger one's beyond it.</summary>
    public double PriceMs(Func<PartTimings, double> part, int batch)
    {
        if (batch <= BatchOne.Batch || BatchMax.Batch <= BatchOne.Batch)
        {
            return part(BatchOne);
        }

        var w = Math.Min(1.0, (double)(batch - BatchOne.Batch) / (BatchMax.Batch - BatchOne.Batch));
        return part(BatchOne) + (w * (part(BatchMax) - part(BatchOne)));
    }

    /// <summary>One head call at exit <paramref name="layer"/> for <paramref name="batch"/> rows (<see cref="PartTimings.HeadMs"/>).</summary>
    public double HeadMs(int layer, int batch, int denoisingSteps) => PriceMs(p => p.HeadMs(layer, denoisingSteps), batch);
}

/// <summary>
/// A file of simulated-device prices per model id (<c>A1Fleet:Inference:SimulatedPricesFile</c>): prices measured once
/// elsewhere, so that every silo given the file simulates the same device instead of pricing its own at start (on a
/// shared machine the silos of one bench, started minutes apart, priced alike only by chance), or so that a device
/// measured on another machine (an accelerator) is simulated here. The shape, JSON:
/// <c>{"small-fm": {"batchOne": {"batch": 1, "prefixMs": ..., ...}, "batchMax": {"batch": 32, ...}}}</c>.
/// </summary>
public static class SimulatedPrices
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static void Write(string path, IReadOnlyDictionary<string, ModelPrices> prices) =>
        File.WriteAllText(path, JsonSerializer.Serialize(prices, Json));

    /// <summary>Reads and checks a price file; every problem is an <see cref="InvalidDataException"/> naming the file, the model and the field.</summary>
    public static Dictionary<string, ModelPrices> Read(string path)
    {
        Dictionary<string, ModelPrices>? prices;
        try
        {
            prices = JsonSerializer.Deserialize<Dictionary<string, ModelPrices>>(File.ReadAllText(path), Json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"simulated prices {path}: not a JSON object of model id -> {{batchOne, batchMax}} ({ex.Message})", ex);
        }

        if (prices is null || prices.Count == 0)
        {
            throw new InvalidDataException($"simulated prices {path}: no model's prices in it");
        }

        foreach (var (model, p) in prices)
        {
            if (p?.BatchOne is null || p.BatchMax is null)
            {
                throw new InvalidDataException($"simulated prices {path}: model '{model}' needs both batchOne and batchMax");
            }

            if (p.BatchOne.Batch != 1 || p.BatchMax.Batch < 1)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"simulated prices {path}: model '{model}': batchOne.batch must be 1 (is {p.BatchOne.Batch}) and batchMax.batch at least 1 (is {p.BatchMax.Batch})"));
            }

            foreach (var (which, t) in new[] { ("batchOne", p.BatchOne), ("batchMax", p.BatchMax) })
            {
                foreach (var (field, ms) in new[]
                         {
                             ("prefixMs", t.PrefixMs), ("languageModelLayerMs", t.LanguageModelLayerMs), ("mlpHeadMs", t.MlpHeadMs),
                             ("expertSuffixMs", t.ExpertSuffixMs), ("expertLayerMs", t.ExpertLayerMs), ("expertOutputMs", t.ExpertOutputMs),
                         })
                {
                    if (!double.IsFinite(ms) || ms < 0)
                    {
                        throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                            $"simulated prices {path}: model '{model}': {which}.{field} {ms} must be a finite number of ms, 0 or more"));
                    }
                }
            }
        }

        return prices;
    }
}
