using System.Diagnostics;
using System.Globalization;
using A1Fleet.ProcessHarness;

namespace A1Fleet.Cluster.Tests.ProcessHarness;

/// <summary>A port reserved by a live process is never handed out here; one whose process has gone is cleared and handed out again.</summary>
public sealed class PortReservationsTests
{
    private static readonly string Directory = Path.Combine(Path.GetTempPath(), "a1fleet-port-reservations");

    // Below the range FreePort draws from, so these tests never take a port another test is about to use.
    private static int UnusedPort() => Random.Shared.Next(10_000, 19_000);

    [Fact]
    public void TryReserve_HeldByALiveProcess_RefusedAndLeftAlone()
    {
        var port = UnusedPort();
        var path = Path.Combine(Directory, port.ToString(CultureInfo.InvariantCulture));
        System.IO.Directory.CreateDirectory(Directory);
        using var other = Process.Start("sleep", "60");
        File.WriteAllText(path, other.Id.ToString(CultureInfo.InvariantCulture));
        try
        {
            Assert.False(PortReservations.TryReserve(port));
            Assert.Equal(other.Id.ToString(CultureInfo.InvariantCulture), File.ReadAllText(path));
        }
        finally
        {
            other.Kill();
            File.Delete(path);
        }
    }

    [Fact]
    public void TryReserve_HeldByAProcessThatHasGone_ClearedThenReservedForThisProcess()
    {
        var port = UnusedPort();
        var path = Path.Combine(Directory, port.ToString(CultureInfo.InvariantCulture));
        System.IO.Directory.CreateDirectory(Directory);
        using var gone = Process.Start("true");
        gone.WaitForExit();
        File.WriteAllText(path, gone.Id.ToString(CultureInfo.InvariantCulture));
        try
        {
            Assert.False(PortReservations.TryReserve(port));
            Assert.False(File.Exists(path));
            Assert.True(PortReservations.TryReserve(port));
            Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FreePort_TwoCalls_DistinctPortsEachReservedByThisProcess()
    {
        var first = ProcessCluster.FreePort();
        var second = ProcessCluster.FreePort();

        Assert.NotEqual(first, second);
        foreach (var port in new[] { first, second })
        {
            Assert.InRange(port, 20_000, 32_767);
            Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(Directory, port.ToString(CultureInfo.InvariantCulture))));
        }
    }
}
