using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using A1Fleet.Grains;
using A1Fleet.Operator;
using A1Fleet.Operator.Client;
using A1Fleet.Silo.Security;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>One loopback silo, started with the bootstrap admin key, shared by the security tests.</summary>
public sealed class SecuredSilo : IAsyncLifetime
{
    public LoopbackSilo Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Silo = await LoopbackSilo.StartAsync();
        await Silo.WaitReadyAsync();
    }

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary>Operator identity, roles, robot credentials, the audit log and input limits, over real HTTP.</summary>
public sealed class SecurityTests(SecuredSilo fixture) : IClassFixture<SecuredSilo>
{
    private LoopbackSilo Silo => fixture.Silo;

    private IGrainFactory Grains => Silo.Services.GetRequiredService<IGrainFactory>();

    [Fact]
    public async Task Api_WithoutOrWithBadKey_Is401ProblemDetails_MetricsAndHealthStayAnonymous()
    {
        using var anonymous = Silo.CreateClient(null);
        var none = await anonymous.GetAsync("/api/robots");
        await AssertProblem(none, HttpStatusCode.Unauthorized, "needs an API key");
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/metrics")).StatusCode);

        using var malformed = Silo.CreateClient("not-a-key");
        await AssertProblem(await malformed.PostAsJsonAsync("/api/estop", new { selector = "all" }), HttpStatusCode.Unauthorized, "malformed");

        // Right shape, wrong secret: the key id exists, the secret does not match.
        var wrongSecret = LoopbackSilo.AdminKey[..^4] + (LoopbackSilo.AdminKey.EndsWith("0000", StringComparison.Ordinal) ? "1111" : "0000");
        using var forged = Silo.CreateClient(wrongSecret);
        await AssertProblem(await forged.GetAsync("/api/robots"), HttpStatusCode.Unauthorized, "unknown or revoked");

        // X-Api-Key works as well as the bearer header.
        using var header = Silo.CreateClient(null);
        header.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, LoopbackSilo.AdminKey);
        Assert.Equal(HttpStatusCode.OK, (await header.GetAsync("/api/robots")).StatusCode);
    }

    [Fact]
    public async Task Roles_ViewerReads_OperatorStops_OnlyAdminManagesModelsAndKeys()
    {
        var robotId = await BindRobot();
        var viewer = await CreateKey("viewer-" + robotId, "viewer");
        var op = await CreateKey("operator-" + robotId, "operator");
        using var asViewer = Silo.CreateClient(viewer);
        using var asOperator = Silo.CreateClient(op);

        Assert.Equal(HttpStatusCode.OK, (await asViewer.GetAsync("/api/robots")).StatusCode);
        await AssertProblem(await asViewer.PostAsJsonAsync("/api/estop", new { selector = $"robot:{robotId}" }), HttpStatusCode.Forbidden, "role 'viewer'");
        Assert.False((await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).EStopped);

        Assert.Equal(HttpStatusCode.OK, (await asOperator.PostAsJsonAsync("/api/estop", new { selector = $"robot:{robotId}" })).StatusCode);
        Assert.True((await Grains.GetGrain<IRobotGrain>(robotId).GetStatus()).EStopped);
        Assert.Equal(HttpStatusCode.OK, (await asOperator.PostAsJsonAsync("/api/resume", new { selector = $"robot:{robotId}" })).StatusCode);
        await AssertProblem(await asOperator.PostAsJsonAsync("/api/models/tiny-fm/live", new { version = "1" }), HttpStatusCode.Forbidden, "role 'operator'");
        await AssertProblem(await asOperator.PostAsJsonAsync("/api/keys", new { name = "escalate", role = "admin" }), HttpStatusCode.Forbidden, "role 'operator'");
        await AssertProblem(await asOperator.GetAsync("/api/audit"), HttpStatusCode.Forbidden, "role 'operator'");
    }

    [Fact]
    public async Task RevokedKey_IsRefusedOnItsNextRequest_AndListingsNeverShowSecrets()
    {
        var key = await CreateKey("short-lived", "operator");
        using var client = Silo.CreateClient(key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/robots")).StatusCode);

        var id = string.Join('_', key.Split('_')[..2]);
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        var listed = await admin.GetStringAsync("/api/keys");
        Assert.Contains(id, listed, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Split('_')[2], listed, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"/api/keys/{id}")).StatusCode);

        await AssertProblem(await client.GetAsync("/api/robots"), HttpStatusCode.Unauthorized, "unknown or revoked");
    }

    [Fact]
    public async Task RobotCredential_SpeaksOnlyForItsRobot_UntilRevoked()
    {
        var op = await CreateKey("cred-issuer", "operator");
        using var http = Silo.CreateClient(op);
        var client = new OperatorClient(http);
        var created = await client.IssueRobotCredential("franka-07", null, CancellationToken.None);
        Assert.StartsWith("a1r_", created.Key, StringComparison.Ordinal);
        var validator = Silo.Services.GetRequiredService<IRobotCredentialValidator>();

        Assert.Equal(new RobotCredentialIdentity("franka-07", created.Id), await validator.ValidateAsync(created.Key, CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(created.Key[..^1] + (created.Key[^1] == 'a' ? 'b' : 'a'), CancellationToken.None));
        // An operator key is not a robot credential, and a robot credential is not an operator key.
        Assert.Null(await validator.ValidateAsync(LoopbackSilo.AdminKey, CancellationToken.None));
        using var asRobot = Silo.CreateClient(created.Key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asRobot.GetAsync("/api/robots")).StatusCode);
        // Revoking through another robot's path is refused; through its own it works from the next check on.
        await Assert.ThrowsAsync<OperatorApiException>(() => client.RevokeRobotCredential("franka-08", created.Id, CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync(created.Key, CancellationToken.None));
        Assert.Single(await client.RobotCredentials("franka-07", CancellationToken.None), c => c.Id == created.Id && !c.Revoked);

        await client.RevokeRobotCredential("franka-07", created.Id, CancellationToken.None);

        Assert.Null(await validator.ValidateAsync(created.Key, CancellationToken.None));
    }

    [Fact]
    public async Task Audit_RecordsWhoByKey_RefusalsIncluded_AndIgnoresByInTheBody()
    {
        var robotId = await BindRobot();
        var op = await CreateKey("alice", "operator");
        var viewer = await CreateKey("bob", "viewer");
        using var asOperator = Silo.CreateClient(op);
        using var asViewer = Silo.CreateClient(viewer);
        using var anonymous = Silo.CreateClient(null);

        Assert.Equal(HttpStatusCode.OK, (await asOperator.PostAsJsonAsync("/api/assignments", new { selector = $"robot:{robotId}", instruction = "wave", by = "mallory" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await asViewer.PostAsJsonAsync("/api/estop", new { selector = $"robot:{robotId}" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/api/resume", new { selector = $"robot:{robotId}" })).StatusCode);

        var assignment = (await Grains.GetGrain<IFleetGrain>("default").ListAssignments()).Last(a => a.Selector.Value == robotId);
        Assert.StartsWith("alice (a1k_", assignment.AssignedBy, StringComparison.Ordinal);

        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        var entries = await new OperatorClient(admin).Audit(null, 1000, CancellationToken.None);
        var mine = entries.Where(e => e.Target?.Contains(robotId, StringComparison.Ordinal) == true).ToList();
        Assert.Contains(mine, e => e is { Method: "POST", Route: "/api/assignments", Status: 200, CredentialName: "alice", Role: "operator" }
                                   && e.Parameters!.Contains("instruction=wave", StringComparison.Ordinal));
        Assert.Contains(mine, e => e is { Route: "/api/estop", Status: 403, CredentialName: "bob", Role: "viewer" });
        Assert.Contains(mine, e => e is { Route: "/api/resume", Status: 401, CredentialId: null });
        Assert.DoesNotContain(mine, e => e.CredentialName == "mallory");
        Assert.True(entries.Zip(entries.Skip(1)).All(p => p.First.Sequence > p.Second.Sequence), "newest first");
    }

    [Fact]
    public async Task Limits_EveryBadInput_IsAProblemNamingTheField_AndChangesNothing()
    {
        var robotId = await BindRobot();
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        var selector = $"robot:{robotId}";

        await AssertProblem(await admin.PostAsJsonAsync("/api/assignments", new { selector, instruction = new string('a', InputRules.MaxInstructionLength + 1) }), HttpStatusCode.BadRequest, "instruction is 501 characters");
        await AssertProblem(await admin.PostAsJsonAsync("/api/assignments", new { selector, instruction = "wave\u001b]0;pwned\u0007" }), HttpStatusCode.BadRequest, "instruction contains a control character");
        await AssertProblem(await admin.PostAsJsonAsync("/api/assignments", new { selector = "tag:" + new string('x', 200), instruction = "wave" }), HttpStatusCode.BadRequest, "selector is 204 characters");
        await AssertProblem(await admin.PostAsJsonAsync("/api/budget", new { selector, budgetMs = 0.000001 }), HttpStatusCode.BadRequest, "budgetMs");
        await AssertProblem(await admin.PostAsJsonAsync("/api/budget", new { selector, budgetMs = 60_001 }), HttpStatusCode.BadRequest, "budgetMs");
        await AssertProblem(await admin.PostAsync("/api/budget", Json($$"""{"selector":"{{selector}}","budgetMs":"NaN"}""")), HttpStatusCode.BadRequest, "budgetMs");
        await AssertProblem(await admin.PostAsync("/api/budget", Json($$"""{"selector":"{{selector}}","budgetMs":"fast"}""")), HttpStatusCode.BadRequest, "$.budgetMs");
        await AssertProblem(await admin.PostAsync("/api/budget", Json("""{"selector": """)), HttpStatusCode.BadRequest, "JSON");
        await AssertProblem(await admin.PostAsync("/api/budget", new StringContent("selector=all", Encoding.UTF8, "text/plain")), HttpStatusCode.UnsupportedMediaType, "application/json");
        // Past the 64 KiB cap (small enough that the client finishes sending before the server answers).
        var huge = JsonSerializer.Serialize(new { selector, instruction = new string('a', 100 * 1024) });
        await AssertProblem(await admin.PostAsync("/api/assignments", Json(huge)), HttpStatusCode.RequestEntityTooLarge, "MaxRequestBodyBytes");

        var status = await Grains.GetGrain<IRobotGrain>(robotId).GetStatus();
        Assert.Null(status.Task);
        Assert.Equal(200, status.LatencyBudgetMs);
    }

    [Fact]
    public async Task BootstrapAdminKey_IsSeededOnce_AndARevokedOneStaysRevoked()
    {
        var directory = Grains.GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default);
        Assert.True(CredentialKeys.TryParse(LoopbackSilo.AdminKey, CredentialKind.ApiKey, out var id, out var hash));
        var again = new CredentialInfo(id, CredentialKind.ApiKey, "bootstrap-admin", OperatorRole.Admin, null, DateTimeOffset.UtcNow, "configuration");
        Assert.False(await directory.SeedBootstrapAdmin(again, hash));
        Assert.Single(await directory.List(CredentialKind.ApiKey, null), c => c.Id == id);

        // A second cluster state, as after an operator revoked the bootstrap key and no admin is left:
        var (otherId, _, otherHash) = CredentialKeys.Generate(CredentialKind.ApiKey);
        var other = Grains.GetGrain<ICredentialDirectoryGrain>("bootstrap-test-" + otherId);
        var info = again with { Id = otherId };
        Assert.True(await other.SeedBootstrapAdmin(info, otherHash));
        await other.Revoke(otherId, "test");
        Assert.Equal(0, await other.ActiveAdminKeys());
        Assert.False(await other.SeedBootstrapAdmin(info, otherHash));
        Assert.Null(await Grains.GetGrain<ICredentialGrain>(otherId).Verify(otherHash));
    }

    [Fact]
    public async Task A1ctl_KeysCredentialsAudit_AndEscapesWhatItPrints()
    {
        var robotId = await BindRobot();
        var (code, output, error) = await Ctl("create-key", "carol", "operator");
        Assert.True(code == 0, error);
        var carol = output.Split('\n')[1].Trim();
        Assert.StartsWith("a1k_", carol, StringComparison.Ordinal);

        (code, output, error) = await Ctl("--api-key", carol, "issue-credential", robotId);
        Assert.True(code == 0, error);
        Assert.Contains("a1r_", output, StringComparison.Ordinal);
        (code, output, _) = await Ctl("--api-key", carol, "robot-credentials", robotId);
        Assert.Equal(0, code);
        Assert.Contains(robotId, output, StringComparison.Ordinal);
        (code, _, error) = await Ctl("--api-key", carol, "keys");
        Assert.Equal(1, code);
        Assert.Contains("role 'operator'", error, StringComparison.Ordinal);

        // An instruction with a terminal escape, put in past the API by a grain call: a1ctl prints it escaped.
        await Grains.GetGrain<IRobotGrain>(robotId).AssignTask("wave\u001b[2J", "test");
        (code, output, _) = await Ctl("robots", $"robot:{robotId}");
        Assert.Equal(0, code);
        Assert.DoesNotContain('\u001b', output);
        Assert.Contains(@"wave\u001B[2J", output, StringComparison.Ordinal);

        (code, _, error) = await Ctl("budget", $"robot:{robotId}", "NaN");
        Assert.Equal(1, code);
        Assert.Contains("budget NaN ms is invalid", error, StringComparison.Ordinal);
        (code, _, error) = await Ctl("budget", $"robot:{robotId}", "2");
        Assert.Equal(1, code);
        Assert.Contains("budgetMs 2 ms is invalid: use a finite value within [5, 60000] ms", error, StringComparison.Ordinal);

        (code, output, error) = await Ctl("audit", "--limit", "50");
        Assert.True(code == 0, error);
        Assert.Contains("carol (a1k_", output, StringComparison.Ordinal);
        Assert.Contains("POST /api/robots/{robotId}/credentials", output, StringComparison.Ordinal);
    }

    private async Task<string> BindRobot()
    {
        var robotId = "sec-" + Guid.NewGuid().ToString("N")[..6];
        await Grains.GetGrain<IRobotGrain>(robotId).Bind(new AgentRegistration("agent", Embodiment.Dobot, "tiny-fm", 0, 0, ["front"], 20, []), null);
        return robotId;
    }

    private async Task<string> CreateKey(string name, string role)
    {
        using var admin = Silo.CreateClient(LoopbackSilo.AdminKey);
        return (await new OperatorClient(admin).CreateApiKey(name, role, CancellationToken.None)).Key;
    }

    private async Task<(int Code, string Output, string Error)> Ctl(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OperatorCommands.RunAsync(["--url", Silo.Url, .. args], output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task AssertProblem(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal((int)status, (int)problem["status"]!);
        Assert.Contains(detailContains, (string?)problem["detail"] ?? "", StringComparison.Ordinal);
    }
}

/// <summary>A silo with no bootstrap key (fail closed) and a tiny rate limit.</summary>
public sealed class ClosedSiloTests : IAsyncLifetime
{
    private LoopbackSilo _silo = null!;

    public async Task InitializeAsync()
    {
        _silo = await LoopbackSilo.StartAsync(extraArgs: ["--A1Fleet:Security:BootstrapAdminKey", "", "--A1Fleet:Api:PermitsPerSecond", "1", "--A1Fleet:Api:Burst", "2"]);
        await _silo.WaitReadyAsync();
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task NoKeyStored_RefusesEveryApiCall_AndTooManyCallsGet429WithRetryAfter()
    {
        // The test run's admin key was never stored here: it is as unknown as any other.
        using var client = _silo.CreateClient(LoopbackSilo.AdminKey);
        Assert.Equal(0, await _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default).ActiveAdminKeys());
        var first = await client.PostAsJsonAsync("/api/estop", new { selector = "all" });
        Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);

        // Burst 2 at 1 per second: ten calls in a row cannot all pass unless they take over 8 s.
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 10 && limited is null; i++)
        {
            var response = await client.GetAsync("/api/robots");
            limited = response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        Assert.NotNull(limited);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        Assert.Contains("retry after", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Refusals are counted by status for the dashboards.
        using var scrape = _silo.CreateClient(null);
        var metrics = await scrape.GetStringAsync("/metrics");
        Assert.Matches("a1fleet_api_refusals_total\\{[^}]*status=\"429\"[^}]*\\} [1-9]", metrics);
        Assert.Matches("a1fleet_api_refusals_total\\{[^}]*status=\"401\"[^}]*\\} [1-9]", metrics);
    }
}
