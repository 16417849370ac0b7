using A1Fleet.ProcessHarness;

namespace A1Fleet.Cluster.Tests.ProcessHarness;

/// <summary>KillAll kills every child this process started: these tests run alone, so no other test's child is among them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ManagedProcessCollection
{
    public const string Name = "ManagedProcess.KillAll";
}

[Collection(ManagedProcessCollection.Name)]
public sealed class ManagedProcessTests
{
    [Fact]
    public void KillAll_ChildNotDisposed_IsKilled()
    {
        using var child = new ManagedProcess("sleeper", "sleep", "300");
        Assert.False(child.HasExited);

        ManagedProcess.KillAll();

        Assert.True(child.HasExited);
    }

    [Fact]
    public void KillAll_ChildDisposedBefore_IsNotTouched()
    {
        var child = new ManagedProcess("short", "true", "");
        child.Dispose();

        // Nothing left to kill: a disposed child is forgotten, so this must not throw on its disposed Process.
        ManagedProcess.KillAll();
    }
}
