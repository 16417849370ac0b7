using A1Fleet.Grains;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Security;

/// <summary>
/// At start, after the silo joined the cluster: seeds the configured bootstrap admin key when no admin key
/// exists, or, with none configured and no admin stored, says how to get one. Every silo does this; the
/// credential directory grain orders them, so the key is stored once.
/// </summary>
public sealed partial class BootstrapAdminKey(
    IOptions<SecurityOptions> options,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<BootstrapAdminKey> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var key = Read(options.Value);
        var directory = grains.GetGrain<ICredentialDirectoryGrain>(ICredentialDirectoryGrain.Default);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (key is not null && CredentialKeys.TryParse(key, CredentialKind.ApiKey, out var id, out var hash))
                {
                    var info = new CredentialInfo(id, CredentialKind.ApiKey, "bootstrap-admin", OperatorRole.Admin, null, time.GetUtcNow(), "configuration");
                    await directory.SeedBootstrapAdmin(info, hash).WaitAsync(cancellationToken);
                }

                if (await directory.ActiveAdminKeys().WaitAsync(cancellationToken) == 0)
                {
                    LogNoAdmin();
                }

                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && attempt < 5)
            {
                // Storage (Redis) may still be coming up with the rest of the deployment.
                LogRetry(attempt, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(attempt), time, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The silo still serves robots; the API stays closed (no key validates) until an admin key exists.
                LogFailed(ex);
                return;
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static string? Read(SecurityOptions o) =>
        !string.IsNullOrWhiteSpace(o.BootstrapAdminKey) ? o.BootstrapAdminKey.Trim()
        : !string.IsNullOrWhiteSpace(o.BootstrapAdminKeyFile) ? File.ReadAllText(o.BootstrapAdminKeyFile).Trim()
        : null;

    [LoggerMessage(EventId = 720, Level = LogLevel.Warning, Message =
        "No admin API key exists and none is configured: the operator API refuses every call (fail closed). " +
        "Set A1Fleet:Security:BootstrapAdminKey (env A1Fleet__Security__BootstrapAdminKey) or BootstrapAdminKeyFile to a key " +
        "a1k_<16 hex>_<64 hex>, e.g. made with: echo a1k_$(openssl rand -hex 8)_$(openssl rand -hex 32), and restart; see docs/security.md")]
    private partial void LogNoAdmin();

    [LoggerMessage(EventId = 721, Level = LogLevel.Warning, Message = "Seeding the bootstrap admin key failed (attempt {Attempt}), retrying: {Reason}")]
    private partial void LogRetry(int attempt, string reason);

    [LoggerMessage(EventId = 722, Level = LogLevel.Error, Message = "Seeding the bootstrap admin key failed; the operator API stays closed until an admin key exists")]
    private partial void LogFailed(Exception exception);
}
