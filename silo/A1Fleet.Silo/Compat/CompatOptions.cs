using System.Net;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Compat;

/// <summary>
/// The compatible-protocol endpoints on the silo host (section "A1Fleet:Compat"): openpi's WebSocket protocol and A1's
/// HTTP API, each on a port of its own, each off unless its port is set. Robots authenticate with their own credentials
/// and are served through their robot grains as the robot gateway serves agents (docs/compatible-protocols.md).
/// </summary>
public sealed class CompatOptions
{
    public const string SectionName = "A1Fleet:Compat";

    /// <summary>TCP port of the openpi-compatible WebSocket endpoint; unset serves none. openpi's own default is 8000.</summary>
    public int? OpenPiPort { get; set; }

    /// <summary>Path the WebSocket is served on (openpi's client connects to "/"; its server ignores the path).</summary>
    public string OpenPiPath { get; set; } = "/";

    /// <summary>TCP port of the A1-compatible HTTP endpoint; unset serves none. A1's own default is 6789.</summary>
    public int? A1HttpPort { get; set; }

    /// <summary>Address both listen on: loopback by default; 0.0.0.0 where robots are on other machines (then use TLS).</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>A PFX, or a PEM certificate with <see cref="CertificateKeyPath"/>: both endpoints speak TLS (wss://, https://).</summary>
    public string? CertificatePath { get; set; }

    public string? CertificateKeyPath { get; set; }

    public string? CertificatePassword { get; set; }

    /// <summary>
    /// Largest request read (an openpi frame or an A1 body; bytes, default 16 MiB). openpi frames carry raw images: three
    /// 224x224 RGB cameras are 451,584 bytes, three 480x640 ones 2.8 MB; A1's base64 PNGs are about 4/3 of the files.
    /// </summary>
    public int MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest image side accepted before resizing (pixels, default 4096).</summary>
    public int MaxImageSide { get; set; } = 4096;

    /// <summary>
    /// How long an A1 robot keeps its lease without a request (seconds, default 10). A1's protocol has no connection, so
    /// its session is this window: within it the lease is kept alive by heartbeats; after it the lease is given back.
    /// </summary>
    public double A1SessionIdleSeconds { get; set; } = 10;

    /// <summary>WebSocket ping interval of the server (seconds, default 20, as openpi's server). Pings are answered at any time.</summary>
    public double KeepAliveSeconds { get; set; } = 20;

    public const int MinRequestBytes = 64 * 1024;
    public const int MaxRequestBytesLimit = 256 * 1024 * 1024;
}

public sealed class CompatOptionsValidator : IValidateOptions<CompatOptions>
{
    public ValidateOptionsResult Validate(string? name, CompatOptions o)
    {
        const string S = CompatOptions.SectionName;
        var errors = new List<string>();
        if (o.OpenPiPort is < 1 or > 65535)
        {
            errors.Add($"{S}:OpenPiPort {o.OpenPiPort} is not a TCP port (1..65535); leave it unset to serve no openpi endpoint.");
        }

        if (o.A1HttpPort is < 1 or > 65535)
        {
            errors.Add($"{S}:A1HttpPort {o.A1HttpPort} is not a TCP port (1..65535); leave it unset to serve no A1 endpoint.");
        }

        if (o.OpenPiPort is { } openpi && openpi == o.A1HttpPort)
        {
            errors.Add($"{S}:OpenPiPort and {S}:A1HttpPort are both {openpi}: each endpoint needs its own port.");
        }

        if (string.IsNullOrEmpty(o.OpenPiPath) || o.OpenPiPath[0] != '/' || o.OpenPiPath.Any(char.IsWhiteSpace) || o.OpenPiPath.Length > 128)
        {
            errors.Add($"{S}:OpenPiPath '{o.OpenPiPath}' must be a URL path starting with '/' (openpi's client connects to '/').");
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
            errors.Add($"{S}:CertificatePath '{path}' does not exist: give a PFX or PEM file, or leave it unset for cleartext (loopback only).");
        }

        if (o.MaxRequestBytes is < CompatOptions.MinRequestBytes or > CompatOptions.MaxRequestBytesLimit)
        {
            errors.Add($"{S}:MaxRequestBytes {o.MaxRequestBytes} is outside {CompatOptions.MinRequestBytes}..{CompatOptions.MaxRequestBytesLimit}.");
        }

        if (o.MaxImageSide is < 16 or > 16384)
        {
            errors.Add($"{S}:MaxImageSide {o.MaxImageSide} is outside 16..16384.");
        }

        if (!double.IsFinite(o.A1SessionIdleSeconds) || o.A1SessionIdleSeconds is < 1 or > 3600)
        {
            errors.Add($"{S}:A1SessionIdleSeconds {o.A1SessionIdleSeconds} must be within 1..3600.");
        }

        if (!double.IsFinite(o.KeepAliveSeconds) || o.KeepAliveSeconds is < 1 or > 600)
        {
            errors.Add($"{S}:KeepAliveSeconds {o.KeepAliveSeconds} must be within 1..600.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
