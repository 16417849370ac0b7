using System.Net;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>
/// The robot gateway's endpoint (gRPC over HTTP/2, its own port: Kestrel cannot serve HTTP/1.1 and cleartext HTTP/2
/// on one port). Section "A1Fleet:RobotGateway"; off unless <see cref="Port"/> is set.
/// </summary>
public sealed class RobotGatewayOptions
{
    public const string SectionName = "A1Fleet:RobotGateway";

    /// <summary>TCP port of the gateway; unset (the default) serves no gateway. The fleet demo sets 8445 for its arms.</summary>
    public int? Port { get; set; }

    /// <summary>Address the gateway listens on: loopback by default; 0.0.0.0 (or the pod IP) where robots are on another machine.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// Certificate for HTTPS (gRPC over TLS): a PFX, or a PEM certificate with its key in <see cref="CertificateKeyPath"/>;
    /// unset, the gateway speaks cleartext HTTP/2 (h2c, loopback and tests only).
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/> (unset for a PFX).</summary>
    public string? CertificateKeyPath { get; set; }

    public string? CertificatePassword { get; set; }

    /// <summary>
    /// Largest message the gateway reads (bytes, default 4 MiB). An observation is about the sum of its images
    /// (height x width x 3 per camera) plus 4 bytes per state value: two 224x224 cameras are 301,056 bytes.
    /// Larger messages are refused with RESOURCE_EXHAUSTED before they are parsed.
    /// </summary>
    public int MaxReceiveMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How often an open Commands stream re-checks its credential and lease, subscribes again (a grain reactivated after
    /// a silo loss has forgotten it) and re-sends a standing e-stop the agent may have missed (seconds, default 1).
    /// </summary>
    public double StreamCheckSeconds { get; set; } = 1;

    /// <summary>
    /// Calls one robot may make per second, sustained (every rpc counts, Commands stream opens included; default 100).
    /// A 30 Hz arm asking for a chunk every tick makes about 32: 30 Act, one heartbeat, counter reports and the
    /// occasional bind. Keyed by the credential's robot, so one robot's flood never slows another.
    /// </summary>
    public int RequestsPerSecond { get; set; } = 100;

    /// <summary>Calls one robot may make at once above the sustained rate (the token bucket's size; default 200).</summary>
    public int RequestBurst { get; set; } = 200;

    public const int MaxRequestsPerSecond = 100_000;

    public const int MinReceiveMessageBytes = 64 * 1024;
    public const int MaxReceiveMessageBytesLimit = 64 * 1024 * 1024;
}

public sealed class RobotGatewayOptionsValidator : IValidateOptions<RobotGatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, RobotGatewayOptions o)
    {
        const string S = RobotGatewayOptions.SectionName;
        var errors = new List<string>();
        if (o.Port is < 1 or > 65535)
        {
            errors.Add($"{S}:Port {o.Port} is not a TCP port (1..65535); leave it unset to serve no robot gateway.");
        }

        if (!IPAddress.TryParse(o.BindAddress, out _))
        {
            errors.Add($"{S}:BindAddress '{o.BindAddress}' is not an IP address (127.0.0.1 for this machine only, 0.0.0.0 for every interface).");
        }

        if (o.CertificateKeyPath is { Length: > 0 } keyPath && (string.IsNullOrEmpty(o.CertificatePath) || !File.Exists(keyPath)))
        {
            errors.Add(string.IsNullOrEmpty(o.CertificatePath)
                ? $"{S}:CertificateKeyPath is set without {S}:CertificatePath: give the PEM certificate the key belongs to."
                : $"{S}:CertificateKeyPath '{keyPath}' does not exist: give the PEM private key of {S}:CertificatePath.");
        }

        if (o.CertificatePath is { Length: > 0 } path && !File.Exists(path))
        {
            errors.Add($"{S}:CertificatePath '{path}' does not exist: give a PFX file, or leave it unset for cleartext HTTP/2.");
        }

        if (o.MaxReceiveMessageBytes is < RobotGatewayOptions.MinReceiveMessageBytes or > RobotGatewayOptions.MaxReceiveMessageBytesLimit)
        {
            errors.Add($"{S}:MaxReceiveMessageBytes {o.MaxReceiveMessageBytes} is outside {RobotGatewayOptions.MinReceiveMessageBytes}..{RobotGatewayOptions.MaxReceiveMessageBytesLimit}.");
        }

        if (o.RequestsPerSecond is < 1 or > RobotGatewayOptions.MaxRequestsPerSecond)
        {
            errors.Add($"{S}:RequestsPerSecond {o.RequestsPerSecond} is outside 1..{RobotGatewayOptions.MaxRequestsPerSecond}; a 30 Hz arm needs about 32.");
        }

        if (o.RequestBurst < 1 || o.RequestBurst > 10 * RobotGatewayOptions.MaxRequestsPerSecond)
        {
            errors.Add($"{S}:RequestBurst {o.RequestBurst} is outside 1..{10 * RobotGatewayOptions.MaxRequestsPerSecond}.");
        }

        if (!double.IsFinite(o.StreamCheckSeconds) || o.StreamCheckSeconds is < 0.1 or > 60)
        {
            errors.Add($"{S}:StreamCheckSeconds {o.StreamCheckSeconds} must be within 0.1..60.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
