using System.Net;
using System.Net.Sockets;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;
using A1Fleet.Operator.Client;
using A1Fleet.Silo.Hosting;
using A1Fleet.Silo.Security;
using Microsoft.AspNetCore.Builder;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>
/// The real silo host (Kestrel, localhost clustering, memory storage) on free loopback ports, GPU-marked
/// and serving tiny-fm built into a temp folder: what the fleet demo runs, for tests that talk HTTP.
/// </summary>
public sealed class LoopbackSilo : IAsyncDisposable
{
    /// <summary>
    /// The bootstrap admin key every loopback silo of this test run is started with. Also put in
    /// A1FLEET_API_KEY, where a1ctl and the calibration job's cluster mode read it, as an operator's shell would.
    /// </summary>
    public static readonly string AdminKey = CredentialKeys.Generate(CredentialKind.ApiKey).Key;

    private readonly string _models;

    static LoopbackSilo() => Environment.SetEnvironmentVariable(OperatorClient.ApiKeyEnvironmentVariable, AdminKey);

    private LoopbackSilo(WebApplication app, string url, string models, string tinyFm, string? gatewayUrl)
    {
        App = app;
        Url = url;
        GatewayUrl = gatewayUrl;
        _models = models;
        TinyFmDirectory = tinyFm;
    }

    public WebApplication App { get; }

    /// <summary>The operator API's base address, e.g. http://127.0.0.1:41234.</summary>
    public string Url { get; }

    /// <summary>The robot gateway's address (cleartext HTTP/2) when started with one, else null.</summary>
    public string? GatewayUrl { get; }

    /// <summary>The tiny-fm package the silo serves, for stand-alone runs on the same model.</summary>
    public string TinyFmDirectory { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>
    /// Starts the silo; with <paramref name="robotGateway"/>, also the robot gateway on a free port, its options from
    /// <paramref name="extraArgs"/> and its credential store from <paramref name="configure"/>.
    /// </summary>
    public static async Task<LoopbackSilo> StartAsync(bool robotGateway = false, IEnumerable<string>? extraArgs = null, Action<WebApplicationBuilder>? configure = null)
    {
        var models = Path.Combine(Path.GetTempPath(), "a1fleet-silo-tests-" + Guid.NewGuid().ToString("N"));
        var model = ReferencePackages.Ensure("tiny-fm", models);
        var url = $"http://127.0.0.1:{FreePort()}";
        var silo = FreePort();
        var gatewayPort = robotGateway ? FreePort() : (int?)null;
        var builder = WebApplication.CreateBuilder([
            .. gatewayPort is { } p ? new[] { "--A1Fleet:RobotGateway:Port", p.ToString() } : [],
            "--urls", url,
            "--A1Fleet:Silo:SiloPort", silo.ToString(),
            "--A1Fleet:Silo:GatewayPort", FreePort().ToString(),
            "--A1Fleet:Silo:ClusterId", "silo-test-" + silo,
            "--A1Fleet:Inference:ModelPackages:0", model,
            "--A1Fleet:Inference:Engine:IntraOpThreads", "1",
            "--Logging:LogLevel:Default", "Warning",
            "--A1Fleet:Security:BootstrapAdminKey", AdminKey,
            // Last, so a test's settings win over the defaults above.
            .. extraArgs ?? [],
        ]);
        configure?.Invoke(builder);
        builder.AddA1FleetSilo();
        var app = builder.Build();
        app.MapA1FleetEndpoints();
        await app.StartAsync();
        return new LoopbackSilo(app, url, models, model, gatewayPort is { } port ? $"http://127.0.0.1:{port}" : null);
    }

    /// <summary>An HTTP client for the operator API sending <paramref name="apiKey"/> as a bearer token (none when null).</summary>
    public HttpClient CreateClient(string? apiKey) => OperatorClient.CreateHttpClient(new Uri(Url), apiKey: apiKey);

    /// <summary>Waits for /health/ready: a cluster member with its models loaded and registered.</summary>
    public async Task WaitReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(Url) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "silo did not become ready within 60 s");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Directory.Delete(_models, recursive: true);
    }

    /// <summary>A loopback port nobody listens on at the moment of the call.</summary>
    public static int FreePort() => A1Fleet.ProcessHarness.ProcessCluster.FreePort();
}
