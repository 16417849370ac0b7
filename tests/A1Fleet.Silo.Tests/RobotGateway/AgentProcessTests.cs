using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using A1Fleet.Silo.Tests.Silo;
using A1Fleet.Grains;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Silo.Tests.RobotGateway;

/// <summary>
/// The a1-agent process (built next to these tests) driving an arm through the silo host's robot gateway, over TLS
/// with a self-signed certificate the agent trusts through --gateway-ca (as fleet-local runs it).
/// </summary>
public sealed class AgentProcessTests : IAsyncLifetime
{
    private readonly OperatorIssuedCredentials _credentials = new();
    private readonly string _tls = Path.Combine(Path.GetTempPath(), "a1fleet-gateway-tls-" + Guid.NewGuid().ToString("N"));
    private LoopbackSilo _silo = null!;
    private string _gateway = "";

    private string CertificateFile => Path.Combine(_tls, "gateway.crt");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_tls);
        var keyFile = Path.Combine(_tls, "gateway.key");
        WriteSelfSignedCertificate(CertificateFile, keyFile);
        _silo = await LoopbackSilo.StartAsync(robotGateway: true,
            extraArgs: ["--A1Fleet:RobotGateway:CertificatePath", CertificateFile, "--A1Fleet:RobotGateway:CertificateKeyPath", keyFile]);
        await _silo.WaitReadyAsync();
        _credentials.Use(_silo);
        _gateway = _silo.GatewayUrl!.Replace("http://", "https://", StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        // Agents first: they started here, and must not outlive the test run.
        foreach (var agent in _output.Keys)
        {
            if (!agent.HasExited)
            {
                agent.Kill(entireProcessTree: true);
                await agent.WaitForExitAsync();
            }

            agent.Dispose();
        }

        await _silo.DisposeAsync();
        Directory.Delete(_tls, recursive: true);
    }

    [Fact]
    public async Task Gateway_OverTls_RefusesAClientThatDoesNotTrustItsCertificate()
    {
        var robotId = "proc-" + Guid.NewGuid().ToString("N")[..6];
        var headers = new Metadata { { "authorization", "Bearer " + await _credentials.IssueAsync(robotId) } };
        using var untrusting = GrpcChannel.ForAddress(_gateway);
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            new P.RobotGateway.RobotGatewayClient(untrusting).HeartbeatAsync(new P.HeartbeatRequest { Epoch = 1 }, headers).ResponseAsync);
        // The TLS handshake fails: the certificate chains to nothing the client trusts.
        var cause = error.Status.DebugException;
        while (cause is not null and not System.Security.Authentication.AuthenticationException)
        {
            cause = cause.InnerException;
        }

        Assert.True(cause is not null, $"expected a TLS authentication failure, got {error.Status}");
        Assert.Equal(0, (await _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IRobotGrain>(robotId).GetStatus()).Epoch);
    }

    [Fact]
    public async Task AgentProcess_WithItsCredential_IsServedThroughTheGatewayAndHoldsOnEStop()
    {
        var robotId = "proc-" + Guid.NewGuid().ToString("N")[..6];
        var robot = _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IRobotGrain>(robotId);
        var agent = StartAgent(robotId, await _credentials.IssueAsync(robotId));

        await WaitFor(agent, async () => (await robot.GetStatus()).Epoch > 0, "the agent did not bind");
        await robot.AssignTask("stack the blocks", "test");
        await WaitFor(agent, async () => (await robot.GetStatus()).Counters.Chunks >= 3, "the agent was not served chunks");
        var status = await robot.GetStatus();
        Assert.Equal(Embodiment.Dobot, status.Embodiment);

        await robot.EStop("test");
        var holds = (await robot.GetStatus()).Counters.Holds;
        await WaitFor(agent, async () => (await robot.GetStatus()).Counters.Holds > holds, "the e-stopped agent did not ask and hold");
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task AgentProcess_FirstOfTwoGatewaysDead_IsServedThroughTheOther()
    {
        var robotId = "proc-" + Guid.NewGuid().ToString("N")[..6];
        var robot = _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IRobotGrain>(robotId);
        await robot.AssignTask("stack the blocks", "test");
        var dead = $"https://127.0.0.1:{LoopbackSilo.FreePort()}";
        var agent = StartAgent(robotId, await _credentials.IssueAsync(robotId), $"{dead},{_gateway}");

        await WaitFor(agent, async () => (await robot.GetStatus()).Counters.Chunks >= 3, "the agent was not served through the live gateway");
    }

    [Fact]
    public async Task AgentProcess_WithAnotherRobotsCredential_NeverBindsAndSaysWhy()
    {
        var robotId = "proc-" + Guid.NewGuid().ToString("N")[..6];
        var agent = StartAgent(robotId, await _credentials.IssueAsync("someone-else"));

        var output = "";
        await WaitFor(agent, () => Task.FromResult((output = Output(agent)).Contains("PermissionDenied", StringComparison.Ordinal)), "no permission error in the agent's log");
        Assert.Contains($"'someone-else' only", output, StringComparison.Ordinal);
        Assert.Equal(0, (await _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IRobotGrain>(robotId).GetStatus()).Epoch);
        Assert.Equal(0, (await _silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IRobotGrain>("someone-else").GetStatus()).Epoch);
    }

    [Fact]
    public void AgentProcess_WithoutACredential_ExitsNamingTheWaysToGiveOne()
    {
        var agent = StartAgent("proc-none", credential: null);

        Assert.True(agent.WaitForExit(60_000), "the agent kept running without a credential");

        // Without a timeout, WaitForExit also waits for the redirected output to be read to its end.
        agent.WaitForExit();
        Assert.NotEqual(0, agent.ExitCode);
        var output = Output(agent);
        Assert.Contains("--credential-file", output, StringComparison.Ordinal);
        Assert.Contains("A1FLEET_ROBOT_CREDENTIAL", output, StringComparison.Ordinal);
    }

    private readonly Dictionary<Process, System.Text.StringBuilder> _output = [];

    private Process StartAgent(string robotId, string? credential, string? gateways = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { AgentDll(), "--gateway", gateways ?? _gateway, "--gateway-ca", CertificateFile, "--robot-id", robotId, "--embodiment", "dobot", "--model", "tiny-fm",
                     "--metrics-port", "0", "--status-interval", "0", "--heartbeat-interval", "0.5" })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["A1FLEET_ROBOT_CREDENTIAL"] = credential ?? "";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = info };
        var text = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (text) { text.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (text) { text.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _output[process] = text;
        return process;
    }

    private string Output(Process process)
    {
        var text = _output[process];
        lock (text)
        {
            return text.ToString();
        }
    }

    private async Task WaitFor(Process agent, Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline && !agent.HasExited, $"{failure}; agent output:\n{Output(agent)}");
            await Task.Delay(100);
        }
    }

    /// <summary>The a1-agent built in the same configuration as these tests.</summary>
    private static string AgentDll()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "A1Fleet.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd(Path.DirectorySeparatorChar)) ?? throw new InvalidOperationException("A1Fleet.sln not found above the test assembly");
        }

        var dll = Path.Combine(root, "robot-agent", "A1Fleet.RobotAgent", "bin", configuration, "net10.0", "a1-agent.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is missing: build the solution ({configuration}) first", dll);
    }

    /// <summary>A self-signed certificate for 127.0.0.1 and localhost, as PEM files: what fleet-local makes with openssl.</summary>
    private static void WriteSelfSignedCertificate(string certificateFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=a1fleet-test-gateway", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
