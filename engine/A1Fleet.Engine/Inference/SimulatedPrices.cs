using System.Globalization;
using System.Text.Json;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// Per-part prices a <see cref="SimulatedDevice"/> spends for one model, at batch 1 and at a larger batch (sizes in
/// between interpolated), as <see cref="A1Engine.MeasureParts"/> gives them.
/// </summary>
public sealed record ModelPrices(PartTimings BatchOne, PartTimings BatchMax);

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
