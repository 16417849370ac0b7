using System.Collections.Concurrent;
using System.Diagnostics;

namespace A1Fleet.ProcessHarness;

/// <summary>
/// A child process whose output is kept (last 200 lines) for failure messages, killed with its tree on dispose, or by
/// <see cref="KillAll"/> (which the bench's Ctrl-C handler calls) when the parent stops without disposing it.
/// </summary>
public sealed class ManagedProcess : IDisposable
{
    private static readonly ConcurrentDictionary<ManagedProcess, byte> Live = new();

    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Lock _gate = new();

    public ManagedProcess(string name, string fileName, string arguments)
    {
        Name = name;
        _process = new Process
        {
            StartInfo = new ProcessStartInfo(fileName, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                Environment = { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" },
            },
        };
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.Start();
        Live[this] = 0;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>Kills every child process started here and not yet disposed (with its tree): for a parent interrupted mid-run.</summary>
    public static void KillAll()
    {
        foreach (var process in Live.Keys)
        {
            try
            {
                process.KillHard();
            }
            catch (InvalidOperationException)
            {
                // Exited (or never started) meanwhile.
            }
        }
    }

    /// <summary>SIGKILL, as a crashed machine would: no graceful shutdown, no membership update.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>SIGTERM and wait for a clean exit (SIGKILL if it does not come within the grace period).</summary>
    public void Terminate(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        if (SendSignal(_process.Id, SigTerm) != 0 || !_process.WaitForExit(grace))
        {
            KillHard();
        }
    }

    /// <summary>
    /// SIGSTOP: the process stops answering but keeps its sockets (the kernel still accepts connections for it), as a
    /// silo stalled by a long pause would. <see cref="Resume"/> lets it run on.
    /// </summary>
    public void Suspend()
    {
        if (SendSignal(_process.Id, SigStop) != 0)
        {
            throw new InvalidOperationException($"{Name}: SIGSTOP failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>SIGCONT after <see cref="Suspend"/>.</summary>
    public void Resume()
    {
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, SigCont);
        }
    }

    private const int SigTerm = 15;
    private const int SigStop = 19;
    private const int SigCont = 18;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Enqueue(line);
            if (_lines.Count > 200)
            {
                _lines.Dequeue();
            }
        }
    }

    public void Dispose()
    {
        Live.TryRemove(this, out _);
        try
        {
            KillHard();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
