using Microsoft.Extensions.Options;

namespace A1Fleet.Grains;

/// <summary>What the fleet grain keeps. Section "A1Fleet:Fleet".</summary>
public sealed class FleetOptions
{
    public const string SectionName = "A1Fleet:Fleet";
    public const string StorageName = "a1fleet";

    /// <summary>Standing assignments the fleet keeps; past it the oldest is dropped (it has long been replaced).</summary>
    public int MaxAssignmentsKept { get; set; } = 1000;
}

public sealed class FleetOptionsValidator : IValidateOptions<FleetOptions>
{
    public ValidateOptionsResult Validate(string? name, FleetOptions o) =>
        o.MaxAssignmentsKept is < 1 or > 100_000
            ? ValidateOptionsResult.Fail($"{FleetOptions.SectionName}:MaxAssignmentsKept {o.MaxAssignmentsKept} must be within 1..100000 (default 1000).")
            : ValidateOptionsResult.Success;
}
