using System.Globalization;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Api;

/// <summary>
/// The floor under a latency budget, in one place for operators (POST /api/budget) and robots setting their own
/// (the A1 endpoint's /a1fleet/budget): the configured minimum (A1Fleet:Api:MinLatencyBudgetMs) and, per model, the
/// fastest first exit its GPU silos measured, so a budget nothing can meet is refused, not silently missed.
/// </summary>
public static class BudgetFloor
{
    /// <summary>Null when <paramref name="budgetMs"/> may be set on robots running <paramref name="modelIds"/>; else why not.</summary>
    public static async Task<string?> ProblemAsync(IGrainFactory grains, IEnumerable<string> modelIds, double budgetMs, double minimumMs, string field = "budgetMs")
    {
        if (InputRules.LatencyBudget(budgetMs, minimumMs, field) is { } problem)
        {
            return problem;
        }

        foreach (var modelId in modelIds)
        {
            if ((await grains.GetGrain<IModelGrain>(modelId).GetInfo()).FirstExitMs is { } firstExitMs
                && InputRules.LatencyBudget(budgetMs, Math.Max(minimumMs, firstExitMs), field) is { } belowFirstExit)
            {
                return $"{belowFirstExit}: model '{modelId}' needs {firstExitMs.ToString("F1", CultureInfo.InvariantCulture)} ms to reach its first exit";
            }
        }

        return null;
    }
}
