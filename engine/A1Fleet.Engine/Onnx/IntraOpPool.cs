using System.Globalization;

namespace A1Fleet.Engine.Onnx;

/// <summary>
/// How many threads ONNX Runtime's process-wide intra-op pool gets. Asked for none (<see cref="EngineOptions.IntraOpThreads"/>
/// 0), ONNX Runtime counts the machine's physical cores, blind to a container's CPU limit and to the process's CPU affinity:
/// a silo limited to 2 CPUs on a 64-core node then runs a pool of 64 threads, throttled by its quota, and every batch
/// overruns the plan its deadlines were admitted on. So where this process may use fewer processors than the machine
/// has online, the pool is sized to what it may use (.NET's <see cref="Environment.ProcessorCount"/>, which follows the
/// limit, the affinity and <c>DOTNET_PROCESSOR_COUNT</c>); otherwise ONNX Runtime's own default stands (one thread per
/// physical core, not per hyperthread).
/// </summary>
internal static class IntraOpPool
{
    /// <returns>The pool size to ask ONNX Runtime for; 0 leaves it to ONNX Runtime's default.</returns>
    /// <param name="configured"><see cref="EngineOptions.IntraOpThreads"/>: above 0, used as it is.</param>
    /// <param name="usable">Processors this process may use (<see cref="Environment.ProcessorCount"/>).</param>
    /// <param name="online">Processors the machine has online; null when unknown (then nothing is capped).</param>
    public static int Size(int configured, int usable, int? online) =>
        configured > 0 ? configured
        : online is { } machine && usable >= 1 && usable < machine ? usable
        : 0;

    /// <summary>Processors online on this machine (Linux: <c>/sys/devices/system/cpu/online</c>); null elsewhere or when unreadable.</summary>
    public static int? OnlineProcessors()
    {
        const string path = "/sys/devices/system/cpu/online";
        try
        {
            return OperatingSystem.IsLinux() && File.Exists(path) ? ParseCpuList(File.ReadAllText(path)) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Counts the processors of a kernel CPU list ("0-3,8-11", "0"); null when it is not one.</summary>
    public static int? ParseCpuList(string list)
    {
        var count = 0;
        foreach (var range in list.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = range.IndexOf('-', StringComparison.Ordinal);
            var first = dash < 0 ? range : range[..dash];
            var last = dash < 0 ? range : range[(dash + 1)..];
            if (!int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                || !int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var to)
                || to < from)
            {
                return null;
            }

            count += to - from + 1;
        }

        return count > 0 ? count : null;
    }
}
