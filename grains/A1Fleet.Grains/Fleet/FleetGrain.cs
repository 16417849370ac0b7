using A1Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace A1Fleet.Grains.Fleet;

public static class FleetGrainKeys
{
    public const string Default = "default";
}

[GenerateSerializer, Alias("a1.FleetState")]
public sealed class FleetState
{
    [Id(0)] public Dictionary<string, RobotEntry> Robots { get; set; } = [];
    [Id(1)] public List<Assignment> Assignments { get; set; } = [];
    [Id(2)] public long NextAssignmentId { get; set; } = 1;
    [Id(3)] public SortedSet<string> Models { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The operator's view of the fleet: which robots exist (registered by robot grains on bind), the
/// persisted assignments (replayed onto robots that register later, so a task given to "all
/// frankas" reaches a Franka added tomorrow), and fan-out of operator commands. Operator-facing
/// only: no robot request ever passes through here.
/// </summary>
public sealed partial class FleetGrain(
    [PersistentState("fleet", FleetOptions.StorageName)] IPersistentState<FleetState> state,
    FleetInstruments instruments,
    TimeProvider time,
    ILogger<FleetGrain> logger) : Grain, IFleetGrain
{
    private const int MaxAssignmentsKept = 1000;

    public async Task Register(RobotEntry entry)
    {
        var known = state.State.Robots.TryGetValue(entry.RobotId, out var existing);
        state.State.Robots[entry.RobotId] = entry;
        if (known && existing!.SameAs(entry))
        {
            return;
        }

        await state.WriteStateAsync();
        if (!known)
        {
            // A robot new to the fleet takes the latest assignment that selects it.
            var latest = state.State.Assignments.LastOrDefault(a => Matches(a.Selector, entry));
            if (latest is not null)
            {
                await GrainFactory.GetGrain<IRobotGrain>(entry.RobotId).AssignTask(latest.Instruction, latest.AssignedBy);
            }
        }
    }

    [ReadOnly]
    public async Task<IReadOnlyList<RobotStatus>> ListRobots(RobotSelector selector)
    {
        var targets = Resolve(selector);
        var statuses = await Task.WhenAll(targets.Select(id => GrainFactory.GetGrain<IRobotGrain>(id).GetStatus()));
        return statuses.OrderBy(s => s.RobotId, StringComparer.Ordinal).ToList();
    }

    public async Task<CommandResult> Assign(RobotSelector selector, string instruction, string assignedBy)
    {
        if (InputRules.Instruction(instruction) is { } problem)
        {
            return new CommandResult([], problem);
        }

        var targets = Resolve(selector);
        if (targets.Count == 0)
        {
            return new CommandResult([], $"no robot matches '{selector}'");
        }

        // Persist first: if this silo dies mid fan-out, the assignment survives and robots that
        // missed it get it when they next register.
        state.State.Assignments.Add(new Assignment(state.State.NextAssignmentId++, selector, instruction.Trim(), assignedBy, time.GetUtcNow()));
        if (state.State.Assignments.Count > MaxAssignmentsKept)
        {
            state.State.Assignments.RemoveRange(0, state.State.Assignments.Count - MaxAssignmentsKept);
        }

        await state.WriteStateAsync();
        await Task.WhenAll(targets.Select(id => GrainFactory.GetGrain<IRobotGrain>(id).AssignTask(instruction, assignedBy)));
        instruments.OnOperatorCommand("assign");
        LogAssigned(selector, targets.Count, assignedBy);
        return new CommandResult(targets, null);
    }

    public Task<CommandResult> SetLatencyBudget(RobotSelector selector, double budgetMs)
    {
        if (InputRules.LatencyBudget(budgetMs) is { } problem)
        {
            return Task.FromResult(new CommandResult([], problem));
        }

        return FanOut(selector, "budget", id => GrainFactory.GetGrain<IRobotGrain>(id).SetLatencyBudget(budgetMs));
    }

    public Task<CommandResult> EStop(RobotSelector selector, string by) =>
        FanOut(selector, "estop", id => GrainFactory.GetGrain<IRobotGrain>(id).EStop(by));

    public Task<CommandResult> Resume(RobotSelector selector, string by) =>
        FanOut(selector, "resume", id => GrainFactory.GetGrain<IRobotGrain>(id).Resume(by));

    [ReadOnly]
    public Task<IReadOnlyList<Assignment>> ListAssignments() => Task.FromResult<IReadOnlyList<Assignment>>([.. state.State.Assignments]);

    public async Task RegisterModel(string modelId)
    {
        if (state.State.Models.Add(modelId))
        {
            await state.WriteStateAsync();
        }
    }

    [ReadOnly]
    public Task<IReadOnlyList<string>> ListModels() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Models]);

    private async Task<CommandResult> FanOut(RobotSelector selector, string command, Func<string, Task> action)
    {
        var targets = Resolve(selector);
        if (targets.Count == 0)
        {
            return new CommandResult([], $"no robot matches '{selector}'");
        }

        await Task.WhenAll(targets.Select(action));
        instruments.OnOperatorCommand(command);
        return new CommandResult(targets, null);
    }

    private List<string> Resolve(RobotSelector selector) =>
        state.State.Robots.Values.Where(r => Matches(selector, r)).Select(r => r.RobotId).OrderBy(id => id, StringComparer.Ordinal).ToList();

    private static bool Matches(RobotSelector selector, RobotEntry robot) => selector.Kind switch
    {
        RobotSelectorKind.All => true,
        RobotSelectorKind.Robot => robot.RobotId == selector.Value,
        RobotSelectorKind.Tag => robot.Tags.Contains(selector.Value, StringComparer.Ordinal),
        RobotSelectorKind.Embodiment => robot.Embodiment.ToString().Equals(selector.Value, StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Assigned a task to {Selector}: {Count} robot(s), by {By}")]
    private partial void LogAssigned(RobotSelector selector, int count, string by);
}
