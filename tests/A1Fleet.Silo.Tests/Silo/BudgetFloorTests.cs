using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>A latency budget below the model's measured first-exit time is refused: nothing could meet it.</summary>
public sealed class BudgetFloorTests : IAsyncLifetime
{
    private LoopbackSilo _silo = null!;

    public async Task InitializeAsync()
    {
        // The configured floor far below any model, so the model's own first exit is the bound under test.
        _silo = await LoopbackSilo.StartAsync(extraArgs: ["--A1Fleet:Api:MinLatencyBudgetMs", "0.001"]);
        await _silo.WaitReadyAsync();
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task SetBudget_BelowTheModelsFirstExit_IsRefusedNamingTheModel_AndAboveItIsSet()
    {
        var grains = _silo.Services.GetRequiredService<IGrainFactory>();
        var robotId = "floor-" + Guid.NewGuid().ToString("N")[..6];
        await grains.GetGrain<IRobotGrain>(robotId).Bind(new AgentRegistration("agent", Embodiment.Franka, "tiny-fm", 0, 0, ["front"], 20, []), null);
        using var http = _silo.CreateClient(LoopbackSilo.AdminKey);
        var model = await http.GetFromJsonAsync<JsonObject>("/api/models/tiny-fm");
        var firstExitMs = (double)model!["firstExitMs"]!;
        Assert.True(firstExitMs > 0, $"the GPU silo reported no first-exit time: {model}");

        var below = await http.PostAsJsonAsync("/api/budget", new { selector = $"robot:{robotId}", budgetMs = firstExitMs / 2 });
        Assert.Equal(HttpStatusCode.BadRequest, below.StatusCode);
        Assert.Contains("tiny-fm", await below.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotEqual(firstExitMs / 2, (await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).LatencyBudgetMs);

        var above = await http.PostAsJsonAsync("/api/budget", new { selector = $"robot:{robotId}", budgetMs = (firstExitMs * 2) + 1 });
        Assert.Equal(HttpStatusCode.OK, above.StatusCode);
        Assert.Equal((firstExitMs * 2) + 1, (await grains.GetGrain<IRobotGrain>(robotId).GetStatus()).LatencyBudgetMs, 6);
    }
}
