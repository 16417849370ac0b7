using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>The repository's Python package (clients/python/a1fleet, A1Policy) against a running test silo.</summary>
public sealed class A1PolicyPackageTests : IAsyncLifetime
{
    private CompatTestSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await CompatTestSilo.StartAsync();

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static string PackageDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "A1Fleet.sln")))
            {
                return Path.Combine(dir.FullName, "clients", "python");
            }
        }

        throw new DirectoryNotFoundException("the repository root (A1Fleet.sln) is not above the test binaries");
    }

    [Fact]
    public async Task A1Policy_PredictSetBudgetStats_ServedByTheFleetWithinTheOperatorsRange()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero", robotBudgetMinMs: 100, robotBudgetMaxMs: 300);

        var result = await PythonClient.RunAsync("a1policy_client.py",
            [PackageDirectory(), _silo.A1Url(), robotId, key, _silo.A1Config(2, extra: new { budget = 150, outside = 1000 })]);

        Assert.Equal(150, result.GetProperty("budget").GetDouble());
        Assert.Equal(422, result.GetProperty("refused").GetInt32());
        var status = await _silo.Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        Assert.Equal(150, status.LatencyBudgetMs);
        Assert.Equal(3, status.Counters.Chunks);
        Assert.Equal(status.Counters.MeanExitLayer, result.GetProperty("stats").GetProperty("average_exit_layer").GetDouble(), 6);
    }

    [Fact]
    public async Task SetBudget_RobotWithoutAnOperatorRange_Is403AndTheBudgetUnchanged()
    {
        var (robotId, key) = await _silo.RobotAsync("a1-libero");
        var robot = _silo.Grains.GetGrain<IRobotGrain>(robotId);
        var before = (await robot.GetStatus()).LatencyBudgetMs;
        using var http = new HttpClient { BaseAddress = new Uri(_silo.A1Url()) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{robotId}:{key}")));

        var response = await http.PostAsJsonAsync("/a1fleet/budget", new { latency_ms = 80 });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(before, (await robot.GetStatus()).LatencyBudgetMs);
    }
}
