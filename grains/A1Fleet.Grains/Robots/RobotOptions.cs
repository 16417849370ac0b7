using System.Globalization;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Robots;

/// <summary>How robot grains treat their robot: budget, leases, counters. Section "A1Fleet:Robots".</summary>
public sealed class RobotOptions
{
    public const string SectionName = "A1Fleet:Robots";

    /// <summary>Latency budget a robot gets until an operator sets one (observation captured to chunk answered).</summary>
    public TimeSpan DefaultLatencyBudget { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often robot grains persist their counters.</summary>
    public TimeSpan CounterFlushInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a robot's lease stays alive without an Act or Heartbeat from its holder. While alive, a bind
    /// from another agent is refused and the robot shows online; past it the lease lapses by itself (the next
    /// bind from anyone wins) and commands skip the push to the silent agent. Agents heartbeat well inside it.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a lease released to a named successor (a take) waits for that agent's bind before anyone may bind.</summary>
    public TimeSpan LeaseReservation { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The least time a hedge leaves the next silo on top of one first exit (the call's way there and back, and its
    /// queue): a request whose first silo is silent is also sent to the next this long plus a first exit and the
    /// deadline margin before its deadline (more when a few first exits need longer). Raise it where calls between
    /// silos are slow or CPUs contended, or the next silo refuses the hedge for the deadline; lower, fewer hedges.
    /// </summary>
    public TimeSpan HedgeTransport { get; set; } = TimeSpan.FromMilliseconds(20);
}

public sealed class RobotOptionsValidator : IValidateOptions<RobotOptions>
{
    private const string Section = RobotOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, RobotOptions o)
    {
        var errors = new List<string>();
        // The budget an operator could set through the API, the one rule for budgets.
        if (InputRules.LatencyBudget(o.DefaultLatencyBudget.TotalMilliseconds, field: $"{Section}:DefaultLatencyBudget") is { } budget)
        {
            errors.Add(budget + " (a duration, e.g. 00:00:00.200).");
        }

        if (o.CounterFlushInterval <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:CounterFlushInterval {o.CounterFlushInterval.ToString("c", CultureInfo.InvariantCulture)} must be positive (default 00:00:10).");
        }

        if (o.LeaseTtl < TimeSpan.FromMilliseconds(500) || o.LeaseTtl > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{Section}:LeaseTtl {o.LeaseTtl} must be within 00:00:00.5..00:05:00 (default 00:00:05): shorter than a few control periods loses live agents, longer keeps a dead agent's robot for minutes.");
        }

        if (o.LeaseReservation < o.LeaseTtl || o.LeaseReservation > TimeSpan.FromHours(1))
        {
            errors.Add($"{Section}:LeaseReservation {o.LeaseReservation} must be within LeaseTtl ({o.LeaseTtl})..01:00:00 (default 00:00:30).");
        }

        if (o.HedgeTransport < TimeSpan.Zero || o.HedgeTransport > TimeSpan.FromMilliseconds(InputRules.MaxLatencyBudgetMs))
        {
            errors.Add($"{Section}:HedgeTransport {o.HedgeTransport.ToString("c", CultureInfo.InvariantCulture)} must be within 0..the largest budget ({InputRules.MaxLatencyBudgetMs} ms) (default 00:00:00.020).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
