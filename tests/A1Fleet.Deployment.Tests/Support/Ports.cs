using System.Net;
using System.Net.Sockets;

namespace A1Fleet.Deployment.Tests.Support;

public static class Ports
{
    /// <summary>A loopback port free right now (the OS picks it; the caller binds it soon after).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
