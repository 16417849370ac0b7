using A1Fleet.Grains;

namespace A1Fleet.Grains.Tests.Fleet;

[Collection(FleetClusterCollection.Name)]
public sealed class FleetGrainTests(FleetClusterFixture fixture)
{
    private IFleetGrain Fleet => fixture.Client.GetGrain<IFleetGrain>("default");

    [Fact]
    public async Task Assign_ByTag_ReachesOnlyTaggedRobots()
    {
        var tag = "cell-" + Guid.NewGuid().ToString("N")[..6];
        var tagged = new TestAgent(fixture.Client, "t-" + Guid.NewGuid().ToString("N")[..8], Embodiment.Dobot, tags: tag);
        var other = new TestAgent(fixture.Client, "o-" + Guid.NewGuid().ToString("N")[..8], Embodiment.Dobot);
        await tagged.BindAsync();
        await other.BindAsync();

        var result = await Fleet.Assign(new RobotSelector(RobotSelectorKind.Tag, tag), "stack the blocks", "op");

        Assert.Null(result.Error);
        Assert.Equal([tagged.RobotId], result.Robots);
        Assert.Equal("stack the blocks", (await tagged.Robot.GetStatus()).Task?.Instruction);
        Assert.Null((await other.Robot.GetStatus()).Task);
        Assert.Contains(tagged.Commands, c => c.Kind == RobotCommandKind.TaskChanged);
    }

    [Fact]
    public async Task Assign_SelectorMatchingNothingYet_IsStoredAndReachesARobotThatRegistersLater()
    {
        var tag = "future-" + Guid.NewGuid().ToString("N")[..6];
        var result = await Fleet.Assign(new RobotSelector(RobotSelectorKind.Tag, tag), "wave", "op");

        Assert.Null(result.Error);
        Assert.Empty(result.Robots);
        Assert.NotNull(result.AssignmentId);
        Assert.Contains(await Fleet.ListAssignments(), a => a.Id == result.AssignmentId && a.Selector.Value == tag);

        var late = new TestAgent(fixture.Client, "f-" + Guid.NewGuid().ToString("N")[..8], tags: tag);
        await late.BindAsync();
        Assert.Equal("wave", (await late.Robot.GetStatus()).Task?.Instruction);
    }

    [Fact]
    public async Task DeleteAssignment_StandingAssignment_NoLongerReachesRobotsThatRegisterLater()
    {
        var tag = "gone-" + Guid.NewGuid().ToString("N")[..6];
        var result = await Fleet.Assign(new RobotSelector(RobotSelectorKind.Tag, tag), "sweep", "op");

        Assert.True(await Fleet.DeleteAssignment(result.AssignmentId!.Value));
        Assert.False(await Fleet.DeleteAssignment(result.AssignmentId!.Value));
        Assert.DoesNotContain(await Fleet.ListAssignments(), a => a.Id == result.AssignmentId);

        var late = new TestAgent(fixture.Client, "g-" + Guid.NewGuid().ToString("N")[..8], tags: tag);
        await late.BindAsync();
        Assert.Null((await late.Robot.GetStatus()).Task);
    }

    [Fact]
    public async Task Assign_PastTheCap_KeepsOnlyTheNewestAssignments()
    {
        var tag = "cap-" + Guid.NewGuid().ToString("N")[..6];
        var ids = new List<long>();
        for (var i = 0; i < FleetClusterFixture.MaxAssignmentsKept + 5; i++)
        {
            ids.Add((await Fleet.Assign(new RobotSelector(RobotSelectorKind.Tag, tag), $"step {i}", "op")).AssignmentId!.Value);
        }

        var kept = (await Fleet.ListAssignments()).Select(a => a.Id).ToList();
        Assert.Equal(FleetClusterFixture.MaxAssignmentsKept, kept.Count);
        Assert.Equal(ids.TakeLast(FleetClusterFixture.MaxAssignmentsKept), kept);
    }

    [Fact]
    public async Task Register_AfterAnAssignmentThatSelectsIt_ReceivesTheTask()
    {
        var tag = "late-" + Guid.NewGuid().ToString("N")[..6];
        var early = new TestAgent(fixture.Client, "e-" + Guid.NewGuid().ToString("N")[..8], tags: tag);
        await early.BindAsync();
        await Fleet.Assign(new RobotSelector(RobotSelectorKind.Tag, tag), "put the cup on the coaster", "op");

        var late = new TestAgent(fixture.Client, "l-" + Guid.NewGuid().ToString("N")[..8], tags: tag);
        var lease = await late.BindAsync();
        var status = await late.Robot.GetStatus();
        Assert.Equal("put the cup on the coaster", status.Task?.Instruction);
    }

    [Fact]
    public async Task EStopAndResume_ByTag_AnswerPerRobot()
    {
        var tag = "es-" + Guid.NewGuid().ToString("N")[..6];
        var a = new TestAgent(fixture.Client, "a-" + Guid.NewGuid().ToString("N")[..8], Embodiment.OpenArm, tags: tag);
        var b = new TestAgent(fixture.Client, "b-" + Guid.NewGuid().ToString("N")[..8], Embodiment.OpenArm, tags: tag);
        await a.BindAsync();
        await b.BindAsync();

        var stop = await Fleet.EStop(new RobotSelector(RobotSelectorKind.Tag, tag), "op");

        Assert.Equal(new[] { a.RobotId, b.RobotId }.Order(StringComparer.Ordinal), stop.Select(c => c.RobotId));
        Assert.All(stop, c => Assert.True(c.Confirmed && c.Pushed && c.Generation == 1));
        var statuses = await Fleet.ListRobots(new RobotSelector(RobotSelectorKind.Embodiment, "OpenArm"));
        Assert.Contains(statuses, s => s.RobotId == a.RobotId && s.EStopped && s.Online);

        var resume = await Fleet.Resume(new RobotSelector(RobotSelectorKind.Robot, a.RobotId), "op");
        Assert.True(Assert.Single(resume).Confirmed);
        Assert.False((await a.Robot.GetStatus()).EStopped);
        Assert.True((await b.Robot.GetStatus()).EStopped);
    }

    [Fact]
    public async Task SetLatencyBudget_Invalid_ReportsAndChangesNothing()
    {
        var a = new TestAgent(fixture.Client, "b-" + Guid.NewGuid().ToString("N")[..8]);
        await a.BindAsync();
        var result = await Fleet.SetLatencyBudget(new RobotSelector(RobotSelectorKind.Robot, a.RobotId), double.NaN);
        Assert.NotNull(result.Error);
        Assert.Empty(result.Robots);
        var ok = await Fleet.SetLatencyBudget(new RobotSelector(RobotSelectorKind.Robot, a.RobotId), 120);
        Assert.Null(ok.Error);
        Assert.Equal(120, (await a.Robot.GetStatus()).LatencyBudgetMs);
    }

    [Theory]
    [InlineData(Embodiment.Franka, "\"franka\"")]
    [InlineData(Embodiment.AgiBot, "\"agibot\"")]
    [InlineData(Embodiment.OpenArm, "\"openarm\"")]
    [InlineData(Embodiment.Dobot, "\"dobot\"")]
    public void Embodiment_InJson_IsTheNameSelectorsUse_AndNumbersAndOtherCasesStillRead(Embodiment embodiment, string json)
    {
        Assert.Equal(json, System.Text.Json.JsonSerializer.Serialize(embodiment));
        Assert.Equal(embodiment, System.Text.Json.JsonSerializer.Deserialize<Embodiment>(json));
        Assert.Equal(embodiment, System.Text.Json.JsonSerializer.Deserialize<Embodiment>(((int)embodiment).ToString()));
        Assert.True(RobotSelector.TryParse("embodiment:" + json.Trim('"'), out var selector, out _));
        Assert.Equal("embodiment:" + json.Trim('"'), selector.ToString());
    }

    [Theory]
    [InlineData("all", true)]
    [InlineData("robot:r1", true)]
    [InlineData("tag:cell-1", true)]
    [InlineData("embodiment:franka", true)]
    [InlineData("embodiment:toaster", false)]
    [InlineData("embodiment:0", false)]
    [InlineData("embodiment:franka,dobot", false)]
    [InlineData("colour:red", false)]
    [InlineData("robot:", false)]
    [InlineData("", false)]
    public void RobotSelector_TryParse_AcceptsTheDocumentedForms(string text, bool valid)
    {
        Assert.Equal(valid, RobotSelector.TryParse(text, out var selector, out var error));
        Assert.Equal(valid, error is null);
        if (valid)
        {
            Assert.True(RobotSelector.TryParse(selector.ToString(), out var again, out _));
            Assert.Equal(selector, again);
        }
    }
}
