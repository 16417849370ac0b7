using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using A1Fleet.Grains;
using A1Fleet.ModelBuilder.Packaging;

namespace A1Fleet.Cluster.Tests;

/// <summary>
/// Two silo processes with A1Fleet:Silo:Tls set: they form a cluster over mutual TLS and serve grain
/// calls across it; the silo and gateway ports refuse plaintext, a client without a certificate and
/// one with a certificate the cluster does not trust. The HTTP endpoint of one silo is HTTPS with its
/// configured certificate.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class TlsClusterTests : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-cluster-tests-" + Guid.NewGuid().ToString("N"));
    private readonly DirectoryInfo _certificates = Directory.CreateTempSubdirectory("a1fleet-tls-");
    private readonly ProcessCluster _cluster = new();

    [Fact]
    public async Task TlsCluster_ServesAcrossSilos_RefusesPlaintextAndStrangers_HttpsWithConfiguredCertificate()
    {
        var cluster = WriteCertificate("cluster");
        var stranger = WriteCertificate("stranger");
        var model = ReferencePackages.Ensure("tiny-fm", _models);
        string[] tls = [$"--A1Fleet:Silo:Tls:CertificatePath \"{cluster.CertificatePath}\"", $"--A1Fleet:Silo:Tls:KeyPath \"{cluster.KeyPath}\""];
        _cluster.StartRedis();
        var gpu = _cluster.StartSiloServing("https", "silo-gpu", model, gpu: true,
            [.. tls, $"--Kestrel:Certificates:Default:Path \"{cluster.CertificatePath}\"", $"--Kestrel:Certificates:Default:KeyPath \"{cluster.KeyPath}\""]) with { ServerCertificate = cluster.Certificate };
        var cpu = _cluster.StartSilo("silo-cpu", model, gpu: false, tls);
        await ProcessCluster.WaitReadyAsync(gpu, TimeSpan.FromSeconds(90));
        await ProcessCluster.WaitReadyAsync(cpu, TimeSpan.FromSeconds(90));

        // Both active means each connected to the other over TLS (Orleans checks connectivity on join).
        // The model grain lives on one of them, so one of these two reads crosses silos.
        foreach (var silo in new[] { gpu, cpu })
        {
            using var http = ProcessCluster.CreateClient(silo, TimeSpan.FromSeconds(20));
            var models = await http.GetFromJsonAsync<List<ModelInfo>>("/api/models", new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web));
            Assert.Contains(models!, m => m.ModelId == "tiny-fm" && m.LiveVersion is not null);
        }

        // HTTPS with the configured certificate: the pinned client only accepts that one.
        using (var https = ProcessCluster.CreateClient(gpu, TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(HttpStatusCode.OK, (await https.GetAsync("/health/live")).StatusCode);
        }

        foreach (var port in new[] { gpu.SiloPort, gpu.GatewayPort, cpu.SiloPort, cpu.GatewayPort })
        {
            Assert.True(await Accepts(port, cluster.Certificate), $"port {port} did not complete a mutual TLS handshake with the cluster's certificate");
            Assert.True(await Refuses(port, cluster.Certificate, clientCertificate: null), $"port {port} accepted a client without a certificate");
            Assert.True(await Refuses(port, cluster.Certificate, stranger.Certificate), $"port {port} accepted a certificate the cluster does not trust");
            Assert.True(await PlaintextIsClosed(port), $"port {port} kept a plaintext connection open");
        }
    }

    /// <summary>
    /// Whether the port hangs up on a TLS client presenting <paramref name="clientCertificate"/>. On Linux the
    /// server checks the client's certificate once the handshake is done, so a refusal is the connection
    /// closing right after it (an accepted client would be kept open, waiting for its Orleans preamble, so
    /// the bound is only a guard). The server must present the cluster's certificate either way.
    /// </summary>
    private static async Task<bool> Refuses(int port, X509Certificate2 server, X509Certificate2? clientCertificate)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // A port that speaks no TLS hangs up too: only a hang-up after the cluster's certificate was presented counts.
        var presentedClusterCertificate = false;
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                // Reached by IP: the silo must present the cluster's certificate, whatever name it carries.
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presentedClusterCertificate = presented is not null && presented.GetRawCertData().AsSpan().SequenceEqual(server.RawDataMemory.Span),
            }, timeout.Token);
            return presentedClusterCertificate && await ssl.ReadAsync(new byte[1], timeout.Token) == 0;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return presentedClusterCertificate;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The cluster's own certificate is let through the handshake, with the cluster's certificate presented back.</summary>
    private static async Task<bool> Accepts(int port, X509Certificate2 cluster)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = [cluster],
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetRawCertData().AsSpan().SequenceEqual(cluster.RawDataMemory.Span),
            }, timeout.Token);
            return ssl.IsMutuallyAuthenticated;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return false;
        }
    }

    /// <summary>What an Orleans client or silo without TLS sends first: bytes that are no TLS record. The server must hang up.</summary>
    private static async Task<bool> PlaintextIsClosed(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await stream.WriteAsync(new byte[] { 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, timeout.Token);
            var buffer = new byte[64];
            while (true)
            {
                if (await stream.ReadAsync(buffer, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
    }

    private (string CertificatePath, string KeyPath, X509Certificate2 Certificate) WriteCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=a1fleet-{name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        // Server and client authentication: every silo is both.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certificatePath = Path.Combine(_certificates.FullName, name + ".crt");
        var keyPath = Path.Combine(_certificates.FullName, name + ".key");
        File.WriteAllText(certificatePath, selfSigned.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        var withKey = X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pkcs12), null);
        return (certificatePath, keyPath, withKey);
    }

    public void Dispose()
    {
        _cluster.Dispose();
        foreach (var directory in new[] { _models, _certificates.FullName })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
