using System.Diagnostics;
using System.Globalization;

namespace A1Fleet.ProcessHarness;

/// <summary>
/// Ports reserved across the processes of one machine: a file per port under the temp directory, created exclusively
/// and holding the reserving process's id. A reservation lasts while that process lives; its files are removed when it
/// exits, and a file whose process has gone (killed) is cleared by the next process that meets it.
/// </summary>
public static class PortReservations
{
    private static readonly string Directory = Path.Combine(Path.GetTempPath(), "a1fleet-port-reservations");
    private static readonly List<string> Held = [];
    private static bool _cleanupRegistered;

    /// <summary>True when this process now holds <paramref name="port"/>; false when another live process does.</summary>
    public static bool TryReserve(int port)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, port.ToString(CultureInfo.InvariantCulture));
        try
        {
            using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            using (var writer = new StreamWriter(file))
            {
                writer.Write(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            }

            lock (Held)
            {
                Held.Add(path);
                if (!_cleanupRegistered)
                {
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => Release();
                    _cleanupRegistered = true;
                }
            }

            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            ClearIfAbandoned(path);
            return false;
        }
    }

    /// <summary>Removes the reservation when the process that made it has gone; the port is drawn again another time.</summary>
    private static void ClearIfAbandoned(string path)
    {
        try
        {
            // A file being written has no id yet: treat it as held.
            if (int.TryParse(File.ReadAllText(path), NumberStyles.None, CultureInfo.InvariantCulture, out var owner) && !IsRunning(owner))
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
            // Another process cleared or took it meanwhile.
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void Release()
    {
        lock (Held)
        {
            foreach (var path in Held)
            {
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    // Left for the next process to clear: its owner (this process) is gone by then.
                }
            }

            Held.Clear();
        }
    }
}
