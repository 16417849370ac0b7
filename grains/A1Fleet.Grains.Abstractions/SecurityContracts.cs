namespace A1Fleet.Grains;

/// <summary>What an operator API key may do. Each role includes the ones before it.</summary>
public enum OperatorRole
{
    /// <summary>Reads robots, assignments, models, calibrations.</summary>
    Viewer = 0,

    /// <summary>Also assigns tasks, e-stops, resumes and sets budgets.</summary>
    Operator = 1,

    /// <summary>Also manages models, threshold versions, calibrations, robot credentials, API keys, and reads the audit log.</summary>
    Admin = 2,
}

/// <summary>An operator API key (a1k_...) or a robot credential (a1r_...).</summary>
public enum CredentialKind
{
    ApiKey = 0,
    Robot = 1,
}

/// <summary>
/// A stored credential, never its secret: the SHA-256 of the secret is kept by the credential's grain and
/// never leaves it. <see cref="Role"/> is set for API keys, <see cref="RobotId"/> for robot credentials.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.CredentialInfo")]
public sealed record CredentialInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] CredentialKind Kind,
    [property: Id(2)] string Name,
    [property: Id(3)] OperatorRole? Role,
    [property: Id(4)] string? RobotId,
    [property: Id(5)] DateTimeOffset CreatedAt,
    [property: Id(6)] string CreatedBy,
    [property: Id(7)] DateTimeOffset? RevokedAt = null,
    [property: Id(8)] string? RevokedBy = null)
{
    public bool Revoked => RevokedAt is not null;
}

/// <summary>One credential, keyed by its id (the a1k_/a1r_ prefix and the id part, e.g. <c>a1k_3f9c...</c>).</summary>
[Alias("a1.ICredentialGrain")]
public interface ICredentialGrain : IGrainWithStringKey
{
    /// <summary>Stores a new credential with the SHA-256 of its secret; false when the id is taken (ids are random, so: a retry of the same call).</summary>
    [Alias("Create")]
    Task<bool> Create(CredentialInfo info, byte[] secretHash);

    /// <summary>The credential when <paramref name="secretHash"/> matches (compared in constant time) and it is not revoked; otherwise null.</summary>
    [Alias("Verify")]
    Task<CredentialInfo?> Verify(byte[] secretHash);

    [Alias("Get")]
    Task<CredentialInfo?> Get();

    /// <summary>Revokes it from the next request on; the revoked record stays (audit, and a revoked bootstrap key is not seeded again). Null when unknown.</summary>
    [Alias("Revoke")]
    Task<CredentialInfo?> Revoke(string by);
}

/// <summary>
/// The list of credentials (one activation, key <see cref="Default"/>): for listing, for "is there an admin",
/// and for seeding the bootstrap admin key once. Lookups on requests go to the per-credential grains, never here.
/// </summary>
[Alias("a1.ICredentialDirectoryGrain")]
public interface ICredentialDirectoryGrain : IGrainWithStringKey
{
    public const string Default = "default";

    /// <summary>Creates the credential grain and lists it.</summary>
    [Alias("Add")]
    Task<CredentialInfo> Add(CredentialInfo info, byte[] secretHash);

    /// <summary>
    /// Seeds the configured bootstrap admin key when no admin key is active and the key was never stored before
    /// (so it is idempotent across silos and restarts, and a revoked bootstrap key stays revoked). True when seeded.
    /// </summary>
    [Alias("SeedBootstrapAdmin")]
    Task<bool> SeedBootstrapAdmin(CredentialInfo info, byte[] secretHash);

    [Alias("List")]
    Task<IReadOnlyList<CredentialInfo>> List(CredentialKind kind, string? robotId);

    [Alias("Revoke")]
    Task<CredentialInfo?> Revoke(string id, string by);

    /// <summary>How many admin API keys are active: the start-up advice is logged when there are none.</summary>
    [Alias("ActiveAdminKeys")]
    Task<int> ActiveAdminKeys();
}

/// <summary>One audited call: who (by credential), what, when, and how it ended.</summary>
[GenerateSerializer, Immutable, Alias("a1.AuditEntry")]
public sealed record AuditEntry(
    [property: Id(0)] long Sequence,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? CredentialId,
    [property: Id(3)] string? CredentialName,
    [property: Id(4)] string? Role,
    [property: Id(5)] string Method,
    [property: Id(6)] string Route,
    [property: Id(7)] string? Target,
    [property: Id(8)] string? Parameters,
    [property: Id(9)] int Status,
    [property: Id(10)] string? RemoteAddress);

/// <summary>
/// The persisted audit log (one activation, key <see cref="Default"/>): entries live in page grains of
/// <see cref="PageSize"/> entries; at most <see cref="MaxPages"/> pages are kept, the oldest page is dropped.
/// </summary>
[Alias("a1.IAuditLogGrain")]
public interface IAuditLogGrain : IGrainWithStringKey
{
    public const string Default = "default";
    public const int PageSize = 250;
    public const int MaxPages = 40;

    /// <summary>Appends an entry (its sequence number is assigned here) and returns it.</summary>
    [Alias("Append")]
    Task<AuditEntry> Append(AuditEntry entry);

    /// <summary>Newest first: at most <paramref name="limit"/> entries at or after <paramref name="since"/>.</summary>
    [Alias("Read")]
    Task<IReadOnlyList<AuditEntry>> Read(DateTimeOffset? since, int limit);
}

/// <summary>A page of the audit log, keyed by its page number.</summary>
[Alias("a1.IAuditPageGrain")]
public interface IAuditPageGrain : IGrainWithIntegerKey
{
    [Alias("Append")]
    Task Append(AuditEntry entry);

    [Alias("Read")]
    Task<AuditEntry[]> Read();

    [Alias("Clear")]
    Task Clear();
}
