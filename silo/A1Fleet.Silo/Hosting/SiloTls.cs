using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace A1Fleet.Silo.Hosting;

/// <summary>
/// Loads the cluster certificate of <see cref="SiloTlsOptions"/> and decides which peers to trust. The
/// validator and the silo use the same loading code, so a certificate that passes validation is the one served.
/// </summary>
public static class SiloTls
{
    public static IEnumerable<string> Validate(SiloTlsOptions tls)
    {
        if (!tls.Enabled)
        {
            if (!string.IsNullOrWhiteSpace(tls.KeyPath) || !string.IsNullOrWhiteSpace(tls.CaPath))
            {
                yield return "A1Fleet:Silo:Tls:KeyPath or CaPath is set without Tls:CertificatePath: give the certificate too, or remove them.";
            }

            yield break;
        }

        string? failure = null;
        try
        {
            using var certificate = LoadCertificate(tls);
            if (!certificate.HasPrivateKey)
            {
                failure = $"A1Fleet:Silo:Tls:CertificatePath '{tls.CertificatePath}' has no private key: give Tls:KeyPath (PEM) or a .pfx with its key.";
            }
            else if (certificate.NotAfter < DateTime.Now)
            {
                failure = $"A1Fleet:Silo:Tls:CertificatePath '{tls.CertificatePath}' expired on {certificate.NotAfter:u}.";
            }

            if (failure is null && !string.IsNullOrWhiteSpace(tls.CaPath))
            {
                var authorities = LoadAuthorities(tls.CaPath);
                if (authorities.Count == 0)
                {
                    failure = $"A1Fleet:Silo:Tls:CaPath '{tls.CaPath}' holds no certificate.";
                }
                else if (!ChainsTo(certificate, authorities))
                {
                    failure = $"A1Fleet:Silo:Tls:CertificatePath '{tls.CertificatePath}' does not chain to a CA of Tls:CaPath '{tls.CaPath}': peers would refuse it.";
                }

                DisposeAll(authorities);
            }
        }
        catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException)
        {
            failure = $"A1Fleet:Silo:Tls: cannot load certificate '{tls.CertificatePath}'{(tls.KeyPath is null ? "" : $" with key '{tls.KeyPath}'")}{(tls.CaPath is null ? "" : $" or CA '{tls.CaPath}'")}: {e.Message}";
        }

        if (failure is not null)
        {
            yield return failure;
        }
    }

    public static X509Certificate2 LoadCertificate(SiloTlsOptions tls)
    {
        var path = tls.CertificatePath ?? throw new InvalidOperationException("A1Fleet:Silo:Tls:CertificatePath is not set");
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, tls.Password);
        }

        using var pem = X509Certificate2.CreateFromPemFile(path, string.IsNullOrWhiteSpace(tls.KeyPath) ? null : tls.KeyPath);

        // A PEM-loaded key is ephemeral, which SslStream refuses on Windows; a PKCS#12 round trip makes it usable everywhere.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Mutual TLS on every Orleans connection, trusting only the cluster's certificates.</summary>
    public static void Configure(TlsOptions options, SiloTlsOptions tls)
    {
        var local = LoadCertificate(tls);
        var authorities = string.IsNullOrWhiteSpace(tls.CaPath) ? null : LoadAuthorities(tls.CaPath);
        options.LocalCertificate = local;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (certificate, _, _) => IsTrusted(certificate, local, authorities);
    }

    /// <summary>
    /// Peers are reached by IP, so the host name check of ordinary TLS does not apply: the cluster's
    /// identity is its CA (or its one shared certificate), checked here instead of the system's trust store.
    /// </summary>
    public static bool IsTrusted(X509Certificate2? remote, X509Certificate2 local, IReadOnlyCollection<X509Certificate2>? authorities)
    {
        if (remote is null)
        {
            return false;
        }

        return authorities is null
            ? remote.RawDataMemory.Span.SequenceEqual(local.RawDataMemory.Span)
            : ChainsTo(remote, authorities);
    }

    private static bool ChainsTo(X509Certificate2 certificate, IReadOnlyCollection<X509Certificate2> authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities.ToArray());
        return chain.Build(certificate);
    }

    private static List<X509Certificate2> LoadAuthorities(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return [.. collection];
    }

    private static void DisposeAll(IEnumerable<X509Certificate2> certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }
}
