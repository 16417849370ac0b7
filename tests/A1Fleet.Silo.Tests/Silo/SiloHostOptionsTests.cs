using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using A1Fleet.Silo.Hosting;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>The listen address and TLS settings of the silo host: what the validator refuses and which peers TLS trusts.</summary>
public sealed class SiloHostOptionsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("a1fleet-tls-options-");

    [Fact]
    public void Validate_BadListenAddressTimeoutAndTlsFiles_NamesEachSetting()
    {
        var result = new SiloHostOptionsValidator().Validate(null, new SiloHostOptions
        {
            ListenAddress = "everywhere",
            RedisHealthTimeoutMs = 0,
            Tls = new SiloTlsOptions { CertificatePath = Path.Combine(_dir.FullName, "missing.crt") },
        });

        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        Assert.Contains("A1Fleet:Silo:ListenAddress 'everywhere'", failures, StringComparison.Ordinal);
        Assert.Contains("A1Fleet:Silo:RedisHealthTimeoutMs 0", failures, StringComparison.Ordinal);
        Assert.Contains("missing.crt", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_DefaultsAndExplicitAnyAddress_Pass()
    {
        Assert.True(new SiloHostOptionsValidator().Validate(null, new SiloHostOptions()).Succeeded);
        Assert.True(new SiloHostOptionsValidator().Validate(null, new SiloHostOptions { ListenAddress = "0.0.0.0" }).Succeeded);
    }

    [Fact]
    public void Validate_CertificateWithoutKeyOrNotFromTheCa_Refused()
    {
        var (certificate, key) = Write("silo");
        var (caCertificate, _) = Write("ca");

        var withoutKey = SiloTls.Validate(new SiloTlsOptions { CertificatePath = certificate }).ToList();
        Assert.Contains(withoutKey, f => f.Contains("no private key", StringComparison.Ordinal) || f.Contains("cannot load", StringComparison.Ordinal));

        var foreignCa = SiloTls.Validate(new SiloTlsOptions { CertificatePath = certificate, KeyPath = key, CaPath = caCertificate }).ToList();
        Assert.Contains(foreignCa, f => f.Contains("does not chain to a CA", StringComparison.Ordinal));

        Assert.Empty(SiloTls.Validate(new SiloTlsOptions { CertificatePath = certificate, KeyPath = key }));
        Assert.Contains(SiloTls.Validate(new SiloTlsOptions { CaPath = caCertificate }), f => f.Contains("without Tls:CertificatePath", StringComparison.Ordinal));
    }

    [Fact]
    public void IsTrusted_SharedCertificateOrCaSigned_OnlyThose()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=a1fleet-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        using var signed = Leaf("signed", ca);
        using var stranger = Leaf("stranger", issuer: null);
        using var local = Leaf("local", issuer: null);

        Assert.True(SiloTls.IsTrusted(local, local, authorities: null));
        Assert.False(SiloTls.IsTrusted(stranger, local, authorities: null));
        Assert.False(SiloTls.IsTrusted(null, local, authorities: null));
        Assert.True(SiloTls.IsTrusted(signed, local, [ca]));
        Assert.False(SiloTls.IsTrusted(stranger, local, [ca]));
    }

    private static X509Certificate2 Leaf(string name, X509Certificate2? issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=a1fleet-{name}", key, HashAlgorithmName.SHA256);
        var notBefore = DateTimeOffset.UtcNow.AddHours(-1);
        var notAfter = DateTimeOffset.UtcNow.AddDays(1);
        return issuer is null
            ? request.CreateSelfSigned(notBefore, notAfter)
            : request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
    }

    private (string Certificate, string Key) Write(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=a1fleet-{name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certificatePath = Path.Combine(_dir.FullName, name + ".crt");
        var keyPath = Path.Combine(_dir.FullName, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
