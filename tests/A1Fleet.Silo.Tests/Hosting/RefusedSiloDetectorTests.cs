using System.Net;
using System.Net.Sockets;
using A1Fleet.Silo.Hosting;

namespace A1Fleet.Silo.Tests.Hosting;

/// <summary>
/// What the detector's verdict rests on, with real sockets: a port nothing listens on refuses, a listening one (even
/// one whose owner never accepts, as a stopped or stalled process) does not. Declaring a killed silo dead with a
/// real cluster is in the simfleet bench and the cluster tests.
/// </summary>
public sealed class RefusedSiloDetectorTests
{
    [Fact]
    public async Task RefusesAsync_NothingListens_True()
    {
        var endpoint = ClosedEndpoint();

        Assert.True(await RefusedSiloDetector.RefusesAsync(endpoint, RefusedSiloDetector.ConnectTimeout));
    }

    [Fact]
    public async Task RefusesAsync_ListeningButNeverAccepting_False()
    {
        // The kernel completes connections into the backlog for a process that never calls accept (SIGSTOP, a long pause).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        Assert.False(await RefusedSiloDetector.RefusesAsync((IPEndPoint)listener.LocalEndpoint, RefusedSiloDetector.ConnectTimeout));
    }

    private static IPEndPoint ClosedEndpoint()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        listener.Stop();
        return endpoint;
    }
}
