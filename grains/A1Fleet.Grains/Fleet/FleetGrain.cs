using A1Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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
/// frankas" reaches a Franka added tomorrow, and an assignment to a tag no robot carries yet waits for
/// the first one), and fan-out of operator commands. Operator-facing only: no robot request ever passes
/// through here. Not reentrant (only read-only calls interleave), so its state writes never overlap.
/// </summary>
public sealed partial class FleetGrain(
    [PersistentState("fleet", FleetOptions.StorageName)] IPersistentState<FleetState> state,
    IOptions<FleetOptions> options,
    FleetInstruments instruments,
    TimeProvider time,
    ILogger<FleetGrain> logger) : Grain, IFleetGrain
{
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
        var targets = ResolveIds(selector);
        var statuses = await Task.WhenAll(targets.Select(id => GrainFactory.GetGrain<IRobotGrain>(id).GetStatus()));
        return statuses.OrderBy(s => s.RobotId, StringComparer.Ordinal).ToList();
    }

    public async Task<CommandResult> Assign(RobotSelector selector, string instruction, string assignedBy)
    {
        if (InputRules.Instruction(instruction) is { } problem)
        {
            return new CommandResult([], problem);
        }

        // Persist first: if this silo dies mid fan-out, the assignment survives and robots that
        // missed it get it when they next register. A selector that matches nobody yet is a standing
        // assignment: it is kept for the robots that register later.
        var targets = ResolveIds(selector);
        var assignment = new Assignment(state.State.NextAssignmentId++, selector, instruction.Trim(), assignedBy, time.GetUtcNow());
        state.State.Assignments.Add(assignment);
        var cap = options.Value.MaxAssignmentsKept;
        if (state.State.Assignments.Count > cap)
        {
            state.State.Assignments.RemoveRange(0, state.State.Assignments.Count - cap);
        }

        await state.WriteStateAsync();
        await Task.WhenAll(targets.Select(id => GrainFactory.GetGrain<IRobotGrain>(id).AssignTask(instruction, assignedBy)));
        instruments.OnOperatorCommand("assign");
        LogAssigned(assignment.Id, selector, targets.Count, assignedBy);
        return new CommandResult(targets, null, assignment.Id);
    }

    public async Task<bool> DeleteAssignment(long id)
    {
        if (state.State.Assignments.RemoveAll(a => a.Id == id) == 0)
        {
            return false;
        }

        // Robots that already took the task keep it: deleting stops the replay, not work in progress.
        await state.WriteStateAsync();
        LogAssignmentDeleted(id);
        return true;
    }

    [ReadOnly]
    public Task<IReadOnlyList<string>> Resolve(RobotSelector selector) => Task.FromResult<IReadOnlyList<string>>(ResolveIds(selector));

    [ReadOnly]
    public Task<IReadOnlyList<string>> ModelsOf(RobotSelector selector) => Task.FromResult<IReadOnlyList<string>>(
        [.. state.State.Robots.Values.Where(r => Matches(selector, r)).Select(r => r.ModelId).Distinct(StringComparer.Ordinal)]);

    public Task<CommandResult> SetLatencyBudget(RobotSelector selector, double budgetMs)
    {
        if (InputRules.LatencyBudget(budgetMs) is { } problem)
        {
            return Task.FromResult(new CommandResult([], problem));
        }

        return FanOut(selector, "budget", id => GrainFactory.GetGrain<IRobotGrain>(id).SetLatencyBudget(budgetMs));
    }

    public Task<IReadOnlyList<EStopConfirmation>> EStop(RobotSelector selector, string by) =>
        PerRobot(selector, "estop", robot => robot.EStop(by));

    public Task<IReadOnlyList<EStopConfirmation>> Resume(RobotSelector selector, string by) =>
        PerRobot(selector, "resume", robot => robot.Resume(by));

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

    /// <summary>One answer per selected robot: a robot grain that cannot be reached is answered as not confirmed, never dropped.</summary>
    private async Task<IReadOnlyList<EStopConfirmation>> PerRobot(RobotSelector selector, string command, Func<IRobotGrain, Task<EStopConfirmation>> action)
    {
        var targets = ResolveIds(selector);
        var results = await Task.WhenAll(targets.Select(async id =>
        {
            try
            {
                return await action(GrainFactory.GetGrain<IRobotGrain>(id));
            }
            catch (Exception ex)
            {
                return new EStopConfirmation(id, 0, false, false, false, $"robot '{id}' did not answer: {ex.Message}");
            }
        }));
        instruments.OnOperatorCommand(command);
        return results;
    }

    private async Task<CommandResult> FanOut(RobotSelector selector, string command, Func<string, Task> action)
    {
        var targets = ResolveIds(selector);
        if (targets.Count == 0)
        {
            return new CommandResult([], $"no robot matches '{selector}'");
        }

        await Task.WhenAll(targets.Select(action));
        instruments.OnOperatorCommand(command);
        return new CommandResult(targets, null);
    }

    private List<string> ResolveIds(RobotSelector selector) =>
        state.State.Robots.Values.Where(r => Matches(selector, r)).Select(r => r.RobotId).OrderBy(id => id, StringComparer.Ordinal).ToList();

    private static bool Matches(RobotSelector selector, RobotEntry robot) => selector.Kind switch
    {
        RobotSelectorKind.All => true,
        RobotSelectorKind.Robot => robot.RobotId == selector.Value,
        RobotSelectorKind.Tag => robot.Tags.Contains(selector.Value, StringComparer.Ordinal),
        RobotSelectorKind.Embodiment => robot.Embodiment.ToString().Equals(selector.Value, StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Assignment {Id} to {Selector}: {Count} robot(s) now, by {By}")]
    private partial void LogAssigned(long id, RobotSelector selector, int count, string by);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Assignment {Id} deleted")]
    private partial void LogAssignmentDeleted(long id);
}
