using A1Fleet.Grains;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent;

/// <summary>Lists every problem of an <see cref="AgentOptions"/> at once, each with the way to fix it.</summary>
public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions o)
    {
        const string S = AgentOptions.SectionName;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.RobotId))
        {
            errors.Add($"{S}:RobotId is empty: name the robot this agent drives (--robot-id arm-1).");
        }
        else if (o.RobotId.Trim() != o.RobotId || o.RobotId.Any(char.IsControl))
        {
            errors.Add($"{S}:RobotId '{o.RobotId}' has surrounding spaces or control characters: use a plain id such as arm-1.");
        }

        if (!Enum.IsDefined(o.Embodiment))
        {
            errors.Add($"{S}:Embodiment {(int)o.Embodiment} is unknown: use one of {string.Join(", ", Enum.GetNames<Embodiment>())}.");
        }

        if (string.IsNullOrWhiteSpace(o.ModelId))
        {
            errors.Add($"{S}:ModelId is empty: give the model a GPU silo serves (--model small-fm).");
        }

        foreach (var tag in o.Tags)
        {
            if (string.IsNullOrWhiteSpace(tag) || tag.Contains(',', StringComparison.Ordinal))
            {
                errors.Add($"{S}:Tags has '{tag}': tags must be non-empty and contain no commas.");
            }
        }

        if (!(o.RequestAheadShare > 0 && o.RequestAheadShare <= 1))
        {
            errors.Add($"{S}:RequestAheadShare {o.RequestAheadShare} must be within (0, 1]: 0.5 requests the next chunk when half of the current one is left.");
        }

        if (o.BlendSteps is < 0 or > 32)
        {
            errors.Add($"{S}:BlendSteps {o.BlendSteps} must be within 0..32 (0 switches chunks without blending; 3 is the default).");
        }

        if (!double.IsFinite(o.RejectSpeedFactor) || (o.RejectSpeedFactor != 0 && o.RejectSpeedFactor is < 1 or > 1000))
        {
            errors.Add($"{S}:RejectSpeedFactor {o.RejectSpeedFactor} must be 0 (slow every chunk to the limits, refuse none) or within [1, 1000].");
        }

        if (!Enum.IsDefined(o.SimulatedTask))
        {
            errors.Add($"{S}:SimulatedTask {(int)o.SimulatedTask} is unknown: use one of {string.Join(", ", Enum.GetNames<Tasks.SimulatedTask>())}.");
        }

        CheckSeconds(errors, "EpisodeSeconds", o.EpisodeSeconds, 0.1, 3600);
        CheckSeconds(errors, "ReportIntervalSeconds", o.ReportIntervalSeconds, 0.1, 3600);
        CheckSeconds(errors, "HeartbeatIntervalSeconds", o.HeartbeatIntervalSeconds, 0.05, 600);
        CheckSeconds(errors, "HoldPollSeconds", o.HoldPollSeconds, 0.01, 60);
        CheckSeconds(errors, "RequestTimeoutSeconds", o.RequestTimeoutSeconds, 0.01, 60);
        CheckSeconds(errors, "BindTimeoutSeconds", o.BindTimeoutSeconds, 0.01, 120);
        CheckSeconds(errors, "RebindBackoffMinSeconds", o.RebindBackoffMinSeconds, 0.001, 60);
        CheckSeconds(errors, "RebindBackoffMaxSeconds", o.RebindBackoffMaxSeconds, 0.001, 600);
        if (o.RebindBackoffMaxSeconds < o.RebindBackoffMinSeconds)
        {
            errors.Add($"{S}:RebindBackoffMaxSeconds {o.RebindBackoffMaxSeconds} is below RebindBackoffMinSeconds {o.RebindBackoffMinSeconds}: raise the maximum or lower the minimum.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckSeconds(List<string> errors, string key, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            errors.Add($"{AgentOptions.SectionName}:{key} {value} must be within [{min}, {max}] seconds.");
        }
    }
}
