namespace A1Fleet.Deployment.Tests.Support;

public static class Ports
{
    /// <summary>A loopback port free now and reserved for this process (<see cref="A1Fleet.ProcessHarness.ProcessCluster.FreePort"/>).</summary>
    public static int Free() => A1Fleet.ProcessHarness.ProcessCluster.FreePort();
}
