using A1Fleet.Engine;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Inference;

/// <summary>What a GPU silo serves. Section "A1Fleet:Inference".</summary>
public sealed class InferenceServiceOptions
{
    public const string SectionName = "A1Fleet:Inference";

    /// <summary>Model package directories this silo loads (its weights stay in memory for the silo's life).</summary>
    public List<string> ModelPackages { get; set; } = [];

    /// <summary>Threshold set (by name, e.g. "exp-r0.7-cosine") made live for a model that has none published yet.</summary>
    public string DefaultThresholdSet { get; set; } = "exp-r0.7-cosine";

    /// <summary>Batches waiting for the device; grains wait (back-pressure) when it is full.</summary>
    public int QueueCapacity { get; set; } = 64;

    public EngineOptions Engine { get; set; } = new();

    /// <summary>
    /// What runs the batches: <see cref="InferenceDevice.Engine"/> (default, the model on ONNX Runtime) or
    /// <see cref="InferenceDevice.Simulated"/> (spends the engine's measured per-part time instead of computing, and
    /// answers with a neutral pose: for scheduling tests and benchmarks only, never for an arm).
    /// </summary>
    public InferenceDevice Device { get; set; } = InferenceDevice.Engine;

    /// <summary>
    /// With <see cref="InferenceDevice.Simulated"/> only: every measured per-part time is multiplied by this (default 1,
    /// the time measured on this machine). Above 1 a slower device: a small machine can then run a fleet with every other
    /// time scaled alike (robot cadence, budgets) at a fraction of the messaging load; below 1 a faster one (an
    /// accelerator). Transport and Orleans costs do not scale. The multi-silo bench (<c>simfleet</c>) sets it; never for an arm.
    /// </summary>
    public double SimulatedTimeScale { get; set; } = 1;

    /// <summary>
    /// With <see cref="InferenceDevice.Simulated"/> only: a file of per-part prices per model
    /// (<see cref="A1Fleet.Engine.Inference.SimulatedPrices"/>) used instead of measuring them at start, still times
    /// <see cref="SimulatedTimeScale"/>. Models it does not list are measured. For benches that need every silo to
    /// simulate the same device, or a device measured elsewhere.
    /// </summary>
    public string? SimulatedPricesFile { get; set; }
}

public enum InferenceDevice
{
    /// <summary>The model package on ONNX Runtime.</summary>
    Engine = 0,

    /// <summary><see cref="A1Fleet.Engine.Inference.SimulatedDevice"/>: the measured time, no computation, meaningless actions.</summary>
    Simulated = 1,
}

public sealed class InferenceServiceOptionsValidator : IValidateOptions<InferenceServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, InferenceServiceOptions o)
    {
        var errors = new List<string>();
        foreach (var dir in o.ModelPackages)
        {
            if (!Directory.Exists(dir))
            {
                errors.Add($"A1Fleet:Inference:ModelPackages names '{dir}', which does not exist (build reference models with the model builder, or point at an exported package).");
            }
        }

        if (o.QueueCapacity is < 1 or > 100_000)
        {
            errors.Add($"A1Fleet:Inference:QueueCapacity {o.QueueCapacity} must be within 1..100000.");
        }

        if (!Enum.IsDefined(o.Device))
        {
            errors.Add($"A1Fleet:Inference:Device {o.Device} is not one of {string.Join(", ", Enum.GetNames<InferenceDevice>())}.");
        }

        if (!double.IsFinite(o.SimulatedTimeScale) || o.SimulatedTimeScale is < 0.01 or > 1000)
        {
            errors.Add($"A1Fleet:Inference:SimulatedTimeScale {o.SimulatedTimeScale} must be within 0.01..1000 (1: the time measured on this machine).");
        }
        else if (o.SimulatedTimeScale != 1 && o.Device != InferenceDevice.Simulated)
        {
            errors.Add($"A1Fleet:Inference:SimulatedTimeScale {o.SimulatedTimeScale} applies to the simulated device only; A1Fleet:Inference:Device is {o.Device}.");
        }

        if (o.SimulatedPricesFile is { } prices)
        {
            if (o.Device != InferenceDevice.Simulated)
            {
                errors.Add($"A1Fleet:Inference:SimulatedPricesFile applies to the simulated device only; A1Fleet:Inference:Device is {o.Device}.");
            }
            else if (!File.Exists(prices))
            {
                errors.Add($"A1Fleet:Inference:SimulatedPricesFile '{prices}' does not exist.");
            }
        }

        errors.AddRange(o.Engine.Validate().Select(e => "A1Fleet:Inference:Engine: " + e));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
