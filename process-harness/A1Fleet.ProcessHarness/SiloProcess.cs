namespace A1Fleet.ProcessHarness;

/// <summary>One silo process and its addresses: operator API URL, Orleans silo and gateway ports (internal), robot gateway URL.</summary>
public sealed record SiloProcess(ManagedProcess Process, string Url, int SiloPort, int GatewayPort, string RobotGatewayUrl)
{
    /// <summary>The certificate an HTTPS silo was configured with; clients trust only it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; init; }
}
