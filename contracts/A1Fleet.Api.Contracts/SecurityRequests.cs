using A1Fleet.Grains;

namespace A1Fleet.Api.Contracts;

/// <summary>Body of <c>POST /api/keys</c>: the key's name and role (viewer, operator or admin).</summary>
public sealed record CreateApiKeyRequest(string Name, string Role);

/// <summary>Body of <c>POST /api/robots/{id}/credentials</c>.</summary>
public sealed record IssueRobotCredentialRequest(string? Name = null);

/// <summary>A key or robot credential as created: <see cref="Key"/> is shown this once; the server keeps only a hash.</summary>
public sealed record CreatedCredential(string Id, string Key, CredentialInfo Credential);
