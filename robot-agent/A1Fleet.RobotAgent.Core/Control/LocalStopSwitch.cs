using A1Fleet.RobotAgent.Diagnostics;

namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// A stop engaged at the arm itself (SIGUSR1, or POST /local/estop on the agent's loopback listener): it needs no
/// cluster, and the control loop starts its controlled stop at once (engaging wakes it, as a fleet e-stop does). It is latched here, apart from the fleet's e-stop,
/// and only <see cref="Release"/> (POST /local/resume, also loopback only) clears it: a resume from the fleet does
/// not, because whoever stopped the arm locally is at the arm and the fleet's operator may not know why.
/// Thread-safe: signal handlers and HTTP requests engage it, the control loop reads it.
/// </summary>
public sealed class LocalStopSwitch(AgentMetrics metrics)
{
    private int _engaged;
    private volatile string? _source;
    private Action? _wake;

    public bool Engaged => Volatile.Read(ref _engaged) == 1;

    /// <summary>What engaged the current stop ("signal", "http"); null when released.</summary>
    public string? Source => _source;

    /// <summary>Engages the stop; false when it already was (the first source is kept).</summary>
    public bool Engage(string source)
    {
        if (Interlocked.Exchange(ref _engaged, 1) == 1)
        {
            return false;
        }

        _source = source;
        metrics.OnLocalStop();
        Volatile.Read(ref _wake)?.Invoke();
        return true;
    }

    /// <summary>Releases the stop; false when none was engaged. The fleet's own e-stop, if any, still holds the arm.</summary>
    public bool Release()
    {
        if (Interlocked.Exchange(ref _engaged, 0) == 0)
        {
            return false;
        }

        _source = null;
        return true;
    }

    /// <summary>What engaging calls (the running control loop's wake; null when none runs). May run the tick inline.</summary>
    internal void WakeOnEngage(Action? wake) => Volatile.Write(ref _wake, wake);
}
