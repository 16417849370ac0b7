using A1Fleet.Grains;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Security;

/// <summary>Operator identity. Section "A1Fleet:Security"; see docs/security.md.</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "A1Fleet:Security";

    /// <summary>
    /// An admin API key (a1k_...) stored at start when no admin key exists yet, so a fresh cluster has a first
    /// admin. Seeded once: later starts, other silos and a revoked copy of it change nothing.
    /// </summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>A file holding the bootstrap admin key (a mounted Kubernetes secret); used when BootstrapAdminKey is empty.</summary>
    public string? BootstrapAdminKeyFile { get; set; }

    /// <summary>Serve /metrics without a key (Prometheus scrapes it). False: a viewer key is needed.</summary>
    public bool AnonymousMetrics { get; set; } = true;

    /// <summary>Serve /health/live and /health/ready without a key (kubelet probes them). False: a viewer key is needed.</summary>
    public bool AnonymousHealth { get; set; } = true;

    /// <summary>
    /// How long an API key check keeps retrying while the silo that held the key's grain is failing over (Orleans
    /// rejects the call until membership declares that silo dead and the grain reactivates): an e-stop sent then must
    /// reach its own retries, not fail with a 500 in authentication. Past it the request gets a 503 problem. Default 10 s.
    /// </summary>
    public TimeSpan KeyCheckRetryTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

public sealed class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions o)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(o.BootstrapAdminKey) && !CredentialKeys.TryParse(o.BootstrapAdminKey.Trim(), CredentialKind.ApiKey, out _, out _))
        {
            errors.Add("A1Fleet:Security:BootstrapAdminKey is not an API key: use a1k_<16 hex digits>_<64 hex digits> (scripts/fleet-local.sh shows how to make one).");
        }

        if (string.IsNullOrEmpty(o.BootstrapAdminKey) && !string.IsNullOrEmpty(o.BootstrapAdminKeyFile) && !File.Exists(o.BootstrapAdminKeyFile))
        {
            errors.Add($"A1Fleet:Security:BootstrapAdminKeyFile '{o.BootstrapAdminKeyFile}' does not exist.");
        }

        if (o.KeyCheckRetryTimeout < TimeSpan.Zero || o.KeyCheckRetryTimeout > TimeSpan.FromMinutes(1))
        {
            errors.Add($"A1Fleet:Security:KeyCheckRetryTimeout {o.KeyCheckRetryTimeout} must be within 00:00:00..00:01:00 (default 00:00:10; 0 = no retry).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Limits on operator API input. Section "A1Fleet:Api"; see docs/security.md.</summary>
public sealed class ApiLimitsOptions
{
    public const string SectionName = "A1Fleet:Api";

    /// <summary>Largest request body on /api (bytes): every operator request is a small JSON document.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Smallest latency budget an operator may set for any robot (ms). Above it, a robot's budget must also cover its
    /// model's first-exit time as its GPU silos measured it at load (<see cref="Grains.ModelInfo.FirstExitMs"/>).
    /// </summary>
    public double MinLatencyBudgetMs { get; set; } = 5;

    /// <summary>Requests per second each API key (or, before authentication, each client address) may make on average.</summary>
    public int PermitsPerSecond { get; set; } = 20;

    /// <summary>Requests a key may make at once above the average (token bucket size).</summary>
    public int Burst { get; set; } = 40;
}

public sealed class ApiLimitsOptionsValidator : IValidateOptions<ApiLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, ApiLimitsOptions o)
    {
        var errors = new List<string>();
        if (o.MaxRequestBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"A1Fleet:Api:MaxRequestBodyBytes {o.MaxRequestBodyBytes} must be within 1024..16777216.");
        }

        if (InputRules.LatencyBudget(o.MinLatencyBudgetMs, field: "A1Fleet:Api:MinLatencyBudgetMs") is { } budget)
        {
            errors.Add(budget + ".");
        }

        if (o.PermitsPerSecond is < 1 or > 100_000 || o.Burst < 1 || o.Burst > 1_000_000)
        {
            errors.Add($"A1Fleet:Api:PermitsPerSecond {o.PermitsPerSecond} and Burst {o.Burst} must be positive (at most 100000 and 1000000).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
