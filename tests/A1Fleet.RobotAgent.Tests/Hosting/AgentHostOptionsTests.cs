using A1Fleet.RobotAgent.Host;

namespace A1Fleet.RobotAgent.Tests.Hosting;

/// <summary>How the a1-agent process finds its gateway and its robot credential.</summary>
public sealed class AgentHostOptionsTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "a1fleet-credential-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Validate_NoGatewayNoCredential_ListsBothWithTheFix()
    {
        var result = new AgentHostOptionsValidator(_ => null).Validate(null, new AgentHostOptions());

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("Gateway ''", StringComparison.Ordinal) && f.Contains("--gateway", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("--credential-file", StringComparison.Ordinal) && f.Contains(AgentHostOptions.CredentialVariable, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_FtpGateway_IsRefused()
    {
        var result = new AgentHostOptionsValidator(_ => "key").Validate(null, new AgentHostOptions { Gateway = "ftp://silo:8443" });

        Assert.Contains(result.Failures!, f => f.Contains("'ftp://silo:8443' is not an http:// or https:// URL", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_SeveralGateways_OneSchemeIsAcceptedMixedIsNot()
    {
        var validator = new AgentHostOptionsValidator(_ => "key");

        Assert.False(validator.Validate(null, new AgentHostOptions { Gateway = "http://127.0.0.1:8443, http://127.0.0.1:8444" }).Failed);
        Assert.Equal(2, AgentHostBuilderExtensions.GatewayAddresses("http://127.0.0.1:8443, http://127.0.0.1:8444").Count);
        var mixed = validator.Validate(null, new AgentHostOptions { Gateway = "http://127.0.0.1:8443,https://127.0.0.1:8444" });
        Assert.Contains(mixed.Failures!, f => f.Contains("mixes http:// and https://", StringComparison.Ordinal));
        var withPath = validator.Validate(null, new AgentHostOptions { Gateway = "http://127.0.0.1:8443/robots" });
        Assert.Contains(withPath.Failures!, f => f.Contains("with no path", StringComparison.Ordinal));
    }

    [Fact]
    public void ResolveCredential_FileAndVariable_TheFileWinsTrimmed()
    {
        File.WriteAllText(_file, "  a1r_from-file\n");
        var options = new AgentHostOptions { Gateway = "http://127.0.0.1:8443", CredentialFile = _file };

        Assert.Equal(("a1r_from-file", (string?)null), options.ResolveCredential(_ => "a1r_from-env"));
        Assert.Equal(("a1r_from-env", (string?)null), new AgentHostOptions().ResolveCredential(_ => " a1r_from-env "));
        Assert.False(new AgentHostOptionsValidator(_ => null).Validate(null, options).Failed);
    }

    [Fact]
    public void ResolveCredential_EmptyOrMissingFile_NamesTheFile()
    {
        File.WriteAllText(_file, "\n");

        Assert.Contains("is empty", new AgentHostOptions { CredentialFile = _file }.ResolveCredential(_ => "ignored").Error, StringComparison.Ordinal);
        Assert.Contains("does not exist", new AgentHostOptions { CredentialFile = _file + ".missing" }.ResolveCredential(_ => "ignored").Error, StringComparison.Ordinal);
    }

    public void Dispose() => File.Delete(_file);
}
