using System.Net;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Host;

/// <summary>How the agent process reaches the fleet (the robot gateway) and what it prints. Section "A1Fleet:AgentHost".</summary>
public sealed class AgentHostOptions
{
    public const string SectionName = "A1Fleet:AgentHost";

    /// <summary>The environment variable that may carry the robot credential (a file is preferred: see <see cref="CredentialFile"/>).</summary>
    public const string CredentialVariable = "A1FLEET_ROBOT_CREDENTIAL";

    /// <summary>
    /// The silo host's robot gateway, <c>https://host:port</c> (TLS) or <c>http://host:port</c> (cleartext HTTP/2, loopback and
    /// tests); several, comma-separated (one per silo), are balanced round-robin and a dead one is skipped.
    /// </summary>
    public string Gateway { get; set; } = "";

    /// <summary>
    /// PEM file of the certificate(s) to trust as roots for an https:// gateway, for a private CA or a self-signed
    /// development certificate (fleet-local's). Unset, the system's trust store decides.
    /// </summary>
    public string? GatewayCaFile { get; set; }

    /// <summary>
    /// A file holding the robot credential an operator issued for this robot (surrounding whitespace ignored). Wins over
    /// <see cref="CredentialVariable"/>. There is no switch taking the credential itself: command lines are visible to every user.
    /// </summary>
    public string? CredentialFile { get; set; }

    /// <summary>Comma-separated tags (<c>--tags lab,left-bench</c>), added to A1Fleet:Agent:Tags.</summary>
    public string? Tags { get; set; }

    /// <summary>Seconds between status lines; 0 prints none.</summary>
    public double StatusIntervalSeconds { get; set; } = 5;

    /// <summary>
    /// Port of the agent's HTTP listener (/metrics for meter A1Fleet.RobotAgent, /health/live, /health/ready, and the
    /// loopback-only POST /local/estop and /local/resume); 0 picks a free port.
    /// </summary>
    public int MetricsPort { get; set; } = 9464;

    /// <summary>
    /// IP address the listener binds (default 127.0.0.1: only this machine). Bind wider (for example 0.0.0.0 so a
    /// Prometheus elsewhere can scrape) only behind a firewall; /local/* refuse non-loopback callers whatever the bind.
    /// </summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The robot credential: the content of <see cref="CredentialFile"/> when set, else the value of <see cref="CredentialVariable"/>;
    /// the error names what is missing.
    /// </summary>
    public (string? Credential, string? Error) ResolveCredential(Func<string, string?> environment)
    {
        if (!string.IsNullOrWhiteSpace(CredentialFile))
        {
            if (!File.Exists(CredentialFile))
            {
                return (null, $"{SectionName}:CredentialFile '{CredentialFile}' does not exist: give the file holding this robot's credential (--credential-file PATH).");
            }

            var text = File.ReadAllText(CredentialFile).Trim();
            return text.Length == 0
                ? (null, $"{SectionName}:CredentialFile '{CredentialFile}' is empty: write the robot credential an operator issued into it.")
                : (text, null);
        }

        var value = environment(CredentialVariable)?.Trim();
        return string.IsNullOrEmpty(value)
            ? (null, $"no robot credential: give --credential-file PATH or set {CredentialVariable} to the credential an operator issued for this robot.")
            : (value, null);
    }
}

public sealed class AgentHostOptionsValidator(Func<string, string?>? environment = null) : IValidateOptions<AgentHostOptions>
{
    private readonly Func<string, string?> _environment = environment ?? Environment.GetEnvironmentVariable;

    public ValidateOptionsResult Validate(string? name, AgentHostOptions o)
    {
        const string S = AgentHostOptions.SectionName;
        var errors = new List<string>();
        var gateways = o.Gateway.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (gateways.Length == 0)
        {
            errors.Add($"{S}:Gateway '{o.Gateway}' is not an http:// or https:// URL: give the silo host's robot gateway (--gateway https://silo:8443).");
        }

        foreach (var g in gateways)
        {
            if (!Uri.TryCreate(g, UriKind.Absolute, out var gateway) || gateway.Scheme is not ("http" or "https") || gateway.AbsolutePath != "/")
            {
                errors.Add($"{S}:Gateway '{g}' is not an http:// or https:// URL with no path: give the silo host's robot gateway (--gateway https://silo:8443).");
            }
        }

        if (gateways.Select(g => g.Split(':')[0]).Distinct(StringComparer.OrdinalIgnoreCase).Count() > 1)
        {
            errors.Add($"{S}:Gateway mixes http:// and https:// ('{o.Gateway}'): every gateway of one agent speaks the same.");
        }

        if (o.GatewayCaFile is { Length: > 0 } ca)
        {
            if (!File.Exists(ca))
            {
                errors.Add($"{S}:GatewayCaFile '{ca}' does not exist: give the PEM certificate the gateway's certificate chains to (--gateway-ca PATH).");
            }

            if (!gateways.All(g => g.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"{S}:GatewayCaFile is set but the gateway '{o.Gateway}' is not https://: a trusted root only matters over TLS.");
            }
        }

        if (o.ResolveCredential(_environment).Error is { } credentialError)
        {
            errors.Add(credentialError);
        }

        if (o.MetricsPort is < 0 or > 65535)
        {
            errors.Add($"{S}:MetricsPort {o.MetricsPort} is not a TCP port: use 0..65535 (0 picks a free one).");
        }

        if (!IPAddress.TryParse(o.ListenAddress, out _))
        {
            errors.Add($"{S}:ListenAddress '{o.ListenAddress}' is not an IP address: use 127.0.0.1 (the default, this machine only), ::1, or 0.0.0.0 to listen on every interface.");
        }

        if (!double.IsFinite(o.StatusIntervalSeconds) || o.StatusIntervalSeconds < 0)
        {
            errors.Add($"{S}:StatusIntervalSeconds {o.StatusIntervalSeconds} must be 0 (no status lines) or a positive number of seconds.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
