using System.Net;
using Microsoft.Extensions.Options;

namespace A1Fleet.RobotAgent.Host;

/// <summary>How the agent process reaches the cluster, and what it prints. Section "A1Fleet:AgentHost".</summary>
public sealed class AgentHostOptions
{
    public const string SectionName = "A1Fleet:AgentHost";

    /// <summary>"localhost" (a silo on this machine, gateway <see cref="GatewayPort"/>) or "redis" (the production membership table).</summary>
    public string Clustering { get; set; } = "localhost";

    /// <summary>StackExchange.Redis connection string for "redis" clustering.</summary>
    public string Redis { get; set; } = "127.0.0.1:6379";

    /// <summary>The local silo's gateway port for "localhost" clustering.</summary>
    public int GatewayPort { get; set; } = 30000;

    public string ClusterId { get; set; } = "a1fleet";

    public string ServiceId { get; set; } = "a1fleet";

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
}

public sealed class AgentHostOptionsValidator : IValidateOptions<AgentHostOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentHostOptions o)
    {
        const string S = AgentHostOptions.SectionName;
        var errors = new List<string>();
        if (o.Clustering is not ("localhost" or "redis"))
        {
            errors.Add($"{S}:Clustering '{o.Clustering}' is unknown: use --cluster localhost or --cluster redis.");
        }

        if (o.Clustering == "redis" && string.IsNullOrWhiteSpace(o.Redis))
        {
            errors.Add($"{S}:Redis is empty: give a StackExchange.Redis connection string (--redis 127.0.0.1:6379).");
        }

        if (o.MetricsPort is < 0 or > 65535)
        {
            errors.Add($"{S}:MetricsPort {o.MetricsPort} is not a TCP port: use 0..65535 (0 picks a free one).");
        }

        if (!IPAddress.TryParse(o.ListenAddress, out _))
        {
            errors.Add($"{S}:ListenAddress '{o.ListenAddress}' is not an IP address: use 127.0.0.1 (the default, this machine only), ::1, or 0.0.0.0 to listen on every interface.");
        }

        if (o.GatewayPort is < 1 or > 65535)
        {
            errors.Add($"{S}:GatewayPort {o.GatewayPort} is not a TCP port (1..65535); a silo's default gateway is 30000.");
        }

        if (string.IsNullOrWhiteSpace(o.ClusterId) || string.IsNullOrWhiteSpace(o.ServiceId))
        {
            errors.Add($"{S}:ClusterId and ServiceId must not be empty; the silos use \"a1fleet\" for both.");
        }

        if (!double.IsFinite(o.StatusIntervalSeconds) || o.StatusIntervalSeconds < 0)
        {
            errors.Add($"{S}:StatusIntervalSeconds {o.StatusIntervalSeconds} must be 0 (no status lines) or a positive number of seconds.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
