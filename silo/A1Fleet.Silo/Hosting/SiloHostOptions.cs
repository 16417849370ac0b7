using System.Net;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Hosting;

/// <summary>How this silo joins the cluster and keeps state. Section "A1Fleet:Silo"; environment variables use
/// double underscores, e.g. <c>A1Fleet__Silo__Clustering=redis</c>.</summary>
public sealed class SiloHostOptions
{
    public const string SectionName = "A1Fleet:Silo";

    /// <summary>"localhost" (one machine, the embedded default) or "redis" (production membership).</summary>
    public string Clustering { get; set; } = "localhost";

    /// <summary>"memory" (embedded default, lost with the silo) or "redis" (production).</summary>
    public string Storage { get; set; } = "memory";

    /// <summary>StackExchange.Redis connection string, used when clustering or storage is "redis".</summary>
    public string Redis { get; set; } = "127.0.0.1:6379";

    public string ClusterId { get; set; } = "a1fleet";
    public string ServiceId { get; set; } = "a1fleet";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Localhost clustering: the silo port of the primary silo (this silo's own port for a single silo).</summary>
    public int? PrimarySiloPort { get; set; }

    /// <summary>Address other silos and clients reach this silo at; loopback by default.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// Address the silo and gateway ports are bound to (Redis clustering). Empty: the advertised address,
    /// so nothing listens beyond it. "0.0.0.0" binds every interface and must be asked for explicitly.
    /// Localhost clustering always binds loopback.
    /// </summary>
    public string? ListenAddress { get; set; }

    /// <summary>How long /health/ready waits for Redis to answer a PING before it reports the silo not ready (ms).</summary>
    public int RedisHealthTimeoutMs { get; set; } = 2000;

    /// <summary>TLS between silos and for gateway clients; off unless a certificate is configured.</summary>
    public SiloTlsOptions Tls { get; set; } = new();

    /// <summary>Marks this silo as a GPU silo: it loads the models of A1Fleet:Inference:ModelPackages and hosts inference grains.</summary>
    public bool Gpu { get; set; } = true;

    /// <summary>
    /// Running as a Kubernetes pod: Orleans' Kubernetes hosting reads the pod's name, namespace, IP and
    /// the orleans/clusterId and orleans/serviceId labels from the downward API, and deletes pods of
    /// silos declared dead. Membership still lives in Redis. See deploy/k8s.
    /// </summary>
    public bool Kubernetes { get; set; }

    /// <summary>Failure detection: how long until a silo that stopped answering is declared dead (seconds).</summary>
    public int DeathVoteSeconds { get; set; } = 4;

    /// <summary>
    /// Declare a silo dead as soon as its silo port refuses connections (twice in a row, 20 ms apart) after a silo-to-silo connection closed or a call into the cluster
    /// failed, instead of waiting <see cref="DeathVoteSeconds"/>: a refused connection means its process is gone, not slow
    /// (<see cref="RefusedSiloDetector"/>). Robots whose grains lived there are served again within a chunk.
    /// </summary>
    public bool DeclareDeadOnRefusedConnection { get; set; } = true;
}

public sealed class SiloHostOptionsValidator : IValidateOptions<SiloHostOptions>
{
    public ValidateOptionsResult Validate(string? name, SiloHostOptions o)
    {
        var errors = new List<string>();
        if (o.Clustering is not ("localhost" or "redis"))
        {
            errors.Add($"A1Fleet:Silo:Clustering '{o.Clustering}' is unknown: use 'localhost' or 'redis'.");
        }

        if (o.Storage is not ("memory" or "redis"))
        {
            errors.Add($"A1Fleet:Silo:Storage '{o.Storage}' is unknown: use 'memory' or 'redis'.");
        }

        if ((o.Clustering == "redis" || o.Storage == "redis") && string.IsNullOrWhiteSpace(o.Redis))
        {
            errors.Add("A1Fleet:Silo:Redis is empty: give a StackExchange.Redis connection string such as 127.0.0.1:6379.");
        }

        foreach (var (key, port) in new[] { ("SiloPort", o.SiloPort), ("GatewayPort", o.GatewayPort), ("PrimarySiloPort", o.PrimarySiloPort ?? 1) })
        {
            if (port is < 1 or > 65535)
            {
                errors.Add($"A1Fleet:Silo:{key} {port} is not a TCP port (1..65535).");
            }
        }

        if (o.SiloPort == o.GatewayPort)
        {
            errors.Add($"A1Fleet:Silo:SiloPort and GatewayPort are both {o.SiloPort}: give them different ports.");
        }

        if (!IPAddress.TryParse(o.AdvertisedAddress, out _))
        {
            errors.Add($"A1Fleet:Silo:AdvertisedAddress '{o.AdvertisedAddress}' is not an IP address.");
        }

        if (!string.IsNullOrEmpty(o.ListenAddress) && !IPAddress.TryParse(o.ListenAddress, out _))
        {
            errors.Add($"A1Fleet:Silo:ListenAddress '{o.ListenAddress}' is not an IP address (leave it empty to listen on AdvertisedAddress).");
        }

        if (o.RedisHealthTimeoutMs is < 100 or > 30_000)
        {
            errors.Add($"A1Fleet:Silo:RedisHealthTimeoutMs {o.RedisHealthTimeoutMs} must be within 100..30000.");
        }

        errors.AddRange(SiloTls.Validate(o.Tls));

        if (string.IsNullOrWhiteSpace(o.ClusterId) || string.IsNullOrWhiteSpace(o.ServiceId))
        {
            errors.Add("A1Fleet:Silo:ClusterId and ServiceId must not be empty.");
        }

        if (o.DeathVoteSeconds is < 1 or > 600)
        {
            errors.Add($"A1Fleet:Silo:DeathVoteSeconds {o.DeathVoteSeconds} must be within 1..600.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Section "A1Fleet:Silo:Tls". Mutual TLS on the silo-to-silo and gateway connections
/// (Microsoft.Orleans.Connections.Security): every silo and every gateway client presents a certificate
/// and accepts only peers whose certificate chains to <see cref="CaPath"/>, or, without a CA, peers
/// presenting this very certificate (one shared cluster certificate).
/// </summary>
public sealed class SiloTlsOptions
{
    /// <summary>This silo's certificate: a PEM file (with <see cref="KeyPath"/>) or a PKCS#12 file (.pfx/.p12). Empty: no TLS.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>; empty when the key is in the same file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Password of a PKCS#12 certificate file.</summary>
    public string? Password { get; set; }

    /// <summary>PEM file of the CA(s) that sign the cluster's certificates; empty: peers must present this silo's certificate.</summary>
    public string? CaPath { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}
