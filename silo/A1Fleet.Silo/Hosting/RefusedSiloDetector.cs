using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Hosting;

/// <summary>
/// Declares a silo dead at once when its silo port refuses connections, instead of after membership's missed probes
/// (seconds, during which every call to a grain that lived there fails and its robot holds).
/// <para>Why it is safe: a refused TCP connection means the silo's host answered and nothing listens on that port; a
/// process that is only slow, paused or overloaded still has its listening socket, and the kernel completes the
/// connection for it. So a refusal, seen twice <see cref="RecheckDelay"/> apart for a silo the cluster still lists as
/// active, means its process is gone (SIGKILL, crash, OOM kill). Anything else (a time-out, an unreachable host)
/// proves nothing and is left to membership's own probes. The declared silo, if somehow alive, reads its own death in
/// the table and stops, as after any vote.</para>
/// <para>Checks are started by evidence, not on a timer: this silo's connection to another silo closed
/// (<see cref="ConnectionClosed"/>: a SIGKILLed process's sockets are reset at once), or a call into the cluster failed
/// (<see cref="Suspect"/>, e.g. the robot gateway's "the fleet could not answer"); at most once per silo per
/// <see cref="MinInterval"/>.</para>
/// </summary>
public sealed partial class RefusedSiloDetector(
    IClusterMembershipService membership,
    ILocalSiloDetails local,
    IOptions<SiloHostOptions> options,
    TimeProvider time,
    ILogger<RefusedSiloDetector> logger)
{
    /// <summary>Connection attempts of one check: a silo is declared dead after two refusals in a row among them.</summary>
    public const int Attempts = 4;

    /// <summary>How long after an attempt the silo is tried again.</summary>
    public static readonly TimeSpan RecheckDelay = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The wait before the first attempt: a killed process's sockets are closed one by one, so its connections may be
    /// reset an instant before its listening socket is gone.
    /// </summary>
    public static readonly TimeSpan FirstCheckDelay = TimeSpan.FromMilliseconds(5);

    /// <summary>The fewest time between two checks of one silo: a burst of failed calls checks it once.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait for one connection attempt; past it the check proves nothing.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>How long after this silo declared another dead a failed call is worth sending again (the grain moves here).</summary>
    public static readonly TimeSpan RecentVerdict = TimeSpan.FromSeconds(2);

    /// <summary>Per silo: when it was last checked, and that check (a later caller within <see cref="MinInterval"/> awaits the same one).</summary>
    private readonly ConcurrentDictionary<SiloAddress, (long At, Task<bool> Check)> _checks = new();
    private long _declaredAt = long.MinValue;

    /// <summary>Silos declared dead here since the start.</summary>
    public int Declared => Volatile.Read(ref _declared);

    private int _declared;

    /// <summary>A call into the cluster failed: check every other active silo that was not checked lately, in the background.</summary>
    public void Suspect() => _ = CheckActive("a call into the cluster failed", _ => true);

    /// <summary>
    /// A call into the cluster failed: check every other active silo (or await the check already under way) and say
    /// whether a silo was declared dead here lately, so that the call is worth sending again at once: the grain that
    /// lived there activates on a live silo now.
    /// </summary>
    public async Task<bool> SuspectAsync()
    {
        await Task.WhenAll(CheckActive("a call into the cluster failed", _ => true));
        var at = Interlocked.Read(ref _declaredAt);
        return at != long.MinValue && time.GetElapsedTime(at) < RecentVerdict;
    }

    /// <summary>
    /// A silo-to-silo connection with <paramref name="remote"/> closed: check the silos on that host. Only the address
    /// counts: a connection the other silo opened comes from one of its host's ephemeral ports, not its silo port.
    /// </summary>
    public void ConnectionClosed(EndPoint? remote) =>
        _ = CheckActive("a connection with its host closed", silo => remote is not IPEndPoint ip || silo.Endpoint.Address.Equals(ip.Address));

    private List<Task<bool>> CheckActive(string why, Func<SiloAddress, bool> which)
    {
        var checks = new List<Task<bool>>();
        if (!options.Value.DeclareDeadOnRefusedConnection)
        {
            return checks;
        }

        var now = time.GetTimestamp();
        var interval = (long)(MinInterval.TotalSeconds * time.TimestampFrequency);
        foreach (var (silo, member) in membership.CurrentSnapshot.Members)
        {
            if (member.Status != SiloStatus.Active || silo.Equals(local.SiloAddress) || !which(silo))
            {
                continue;
            }

            var check = _checks.AddOrUpdate(silo,
                _ => (now, StartCheck(silo, why)),
                (_, last) => now - last.At < interval ? last : (now, StartCheck(silo, why)));
            checks.Add(check.Check);
        }

        return checks;
    }

    private Task<bool> StartCheck(SiloAddress silo, string why)
    {
        LogChecking(silo, why);
        return CheckAsync(silo);
    }

    /// <summary>Declares <paramref name="silo"/> dead when its port refuses twice in a row; true when it did.</summary>
    public async Task<bool> CheckAsync(SiloAddress silo)
    {
        try
        {
            // Two refusals in a row within a few attempts: the first may still be accepted while a killed process's
            // sockets are being torn down; a live silo accepts every one.
            await Task.Delay(FirstCheckDelay, time);
            var refusals = 0;
            for (var attempt = 0; refusals < 2; attempt++)
            {
                if (attempt == Attempts || membership.CurrentSnapshot.GetSiloStatus(silo) != SiloStatus.Active)
                {
                    LogNotDeclared(silo, attempt, refusals);
                    return false;
                }

                if (attempt > 0)
                {
                    await Task.Delay(RecheckDelay, time);
                }

                refusals = await RefusesAsync(silo.Endpoint, ConnectTimeout) ? refusals + 1 : 0;
            }

            LogDeclaringDead(silo.ToString(), RecheckDelay.TotalMilliseconds);
            var killed = await membership.TryKill(silo);
            if (killed)
            {
                Interlocked.Increment(ref _declared);
                Interlocked.Exchange(ref _declaredAt, time.GetTimestamp());
            }

            return killed;
        }
        catch (Exception ex)
        {
            // Membership's own probes still find it: this is only the fast path.
            LogCheckFailed(ex, silo.ToString());
            return false;
        }
    }

    /// <summary>
    /// Whether a TCP connection to <paramref name="endpoint"/> is refused. An accepted connection is closed at once; a
    /// time-out or any other error counts as not refused (it proves nothing about the process).
    /// </summary>
    public static async Task<bool> RefusesAsync(IPEndPoint endpoint, TimeSpan timeout)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, cancel.Token);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(EventId = 1460, Level = LogLevel.Warning,
        Message = "Silo {Silo} refuses connections on its silo port (twice in a row, {RecheckMs} ms apart) while listed as active: its process is gone; declaring it dead now")]
    private partial void LogDeclaringDead(string silo, double recheckMs);

    [LoggerMessage(EventId = 1462, Level = LogLevel.Debug, Message = "Checking whether silo {Silo} refuses connections: {Why}")]
    private partial void LogChecking(SiloAddress silo, string why);

    [LoggerMessage(EventId = 1463, Level = LogLevel.Debug, Message = "Silo {Silo} not declared dead here after {Attempts} attempt(s) ({Refusals} refused last): left to membership's probes")]
    private partial void LogNotDeclared(SiloAddress silo, int attempts, int refusals);

    [LoggerMessage(EventId = 1461, Level = LogLevel.Warning, Message = "Checking whether silo {Silo} refuses connections failed; membership's probes will decide")]
    private partial void LogCheckFailed(Exception exception, string silo);
}
