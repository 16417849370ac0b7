using System.Diagnostics;
using System.Globalization;
using A1Fleet.ProcessHarness;
using A1Fleet.RobotAgent.Cluster;

namespace A1Fleet.Bench.SimFleet;

/// <summary>What the failover phase measured: per robot the longest time without an executable action since the kill.</summary>
internal sealed record FailoverResult(PhaseCounts Counts, List<double> GapsMs, int BufferedAtKill, int BufferedThenEmpty);

/// <summary>
/// redis-server and N silo processes on loopback, every one a GPU silo on the simulated device, started one after the
/// other (each loads its models and warms up as it starts; started together on a small machine they would slow each
/// other), all simulating the one device the bench priced (<c>A1Fleet:Inference:SimulatedPricesFile</c>).
/// </summary>
internal sealed class SimCluster : IDisposable
{
    private const string Instruction = "pick up the red block";
    private readonly List<GatewayCallInvoker> _channels;
    private int _robots;

    private SimCluster(ProcessCluster cluster, List<SiloProcess> silos)
    {
        Cluster = cluster;
        Silos = silos;
        // Made once here: robots are bound in parallel, and a list filled on first use raced (two AddRanges, a torn list).
        _channels = SimFleetBenchmark.Channels(silos.Select(s => s.RobotGatewayUrl), 4);
    }

    public ProcessCluster Cluster { get; }

    public List<SiloProcess> Silos { get; }

    /// <param name="timeScale">How much slower than real time the fleet runs (budgets, leases).</param>
    /// <param name="deviceScale">A1Fleet:Inference:SimulatedTimeScale: the per-part prices times this.</param>
    /// <param name="pricesFile">A1Fleet:Inference:SimulatedPricesFile: the prices every silo simulates (measured once by the bench).</param>
    public static async Task<SimCluster> StartAsync(int silos, double timeScale, double deviceScale, IReadOnlyList<string> packages, string pricesFile, TextWriter log)
    {
        var cluster = new ProcessCluster();
        var started = Stopwatch.GetTimestamp();
        try
        {
            cluster.StartRedis();
            var list = new List<SiloProcess>();
            for (var i = 0; i < silos; i++)
            {
                var silo = cluster.StartSilo($"sim-silo-{i + 1}", packages[0], gpu: true, Settings(timeScale, deviceScale, packages, pricesFile));
                list.Add(silo);
                await ProcessCluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(180));
            }

            log.WriteLine($"  {silos} silo(s) ready in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s (simulated device x{deviceScale:0.###}; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]})");
            return new SimCluster(cluster, list);
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    private static string[] Settings(double timeScale, double deviceScale, IReadOnlyList<string> packages, string pricesFile)
    {
        var k = deviceScale.ToString(CultureInfo.InvariantCulture);
        var settings = new List<string>
        {
            "--A1Fleet:Inference:Device Simulated",
            $"--A1Fleet:Inference:SimulatedTimeScale {k}",
            $"--A1Fleet:Inference:SimulatedPricesFile \"{pricesFile}\"",
            // Every time of the fleet scales alike: budgets and the lease a robot keeps by asking.
            $"--A1Fleet:Robots:DefaultLatencyBudget {TimeSpan.FromMilliseconds(200 * timeScale).ToString("c", CultureInfo.InvariantCulture)}",
            $"--A1Fleet:Robots:LeaseTtl {TimeSpan.FromSeconds(Math.Min(300, 5 * timeScale)).ToString("c", CultureInfo.InvariantCulture)}",
            $"--A1Fleet:Robots:LeaseReservation {TimeSpan.FromSeconds(Math.Min(3600, 30 * timeScale)).ToString("c", CultureInfo.InvariantCulture)}",
            // The setup issues a credential per robot (a thousand at once): past the operator API's default rate.
            "--A1Fleet:Api:PermitsPerSecond 5000",
            "--A1Fleet:Api:Burst 5000",
            // What the failover phase prints of the survivor's log: how it found the killed silo dead.
            "--Logging:LogLevel:A1Fleet.Silo.Hosting.RefusedSiloDetector Debug",
            "--Logging:LogLevel:Orleans.Runtime.MembershipService.MembershipTableManager Information",
        };
        for (var i = 1; i < packages.Count; i++)
        {
            settings.Add($"--A1Fleet:Inference:ModelPackages:{i} \"{packages[i]}\"");
        }

        return [.. settings];
    }

    /// <summary>
    /// <paramref name="count"/> new robots (credentials issued through the operator API, bound through the gateways,
    /// tagged with <paramref name="phase"/> and given a task), driven for warm-up plus measure seconds.
    /// </summary>
    public async Task<PhaseCounts> RunPhaseAsync(string phase, int count, string model, SimFleetBenchmark.Spec spec, RobotPace pace, double warmupSeconds, double measureSeconds,
        TextWriter log)
    {
        var setup = Stopwatch.GetTimestamp();
        var robots = await AddRobotsAsync(phase, count, spec, pace);
        log.WriteLine($"  {phase}: {count} credentials issued, robots bound and assigned in {Stopwatch.GetElapsedTime(setup).TotalSeconds:0.0} s");
        var f = Stopwatch.Frequency;
        var now = Stopwatch.GetTimestamp();
        var countFrom = now + (long)(warmupSeconds * f);
        var end = countFrom + (long)(measureSeconds * f);
        var counts = await SimRobots.DriveAsync(_channels, robots, pace, model, spec.StateDim, spec.Cameras, spec.Samples, countFrom, end);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {phase}: {count} robots, {counts.Answered} answered ({counts.WithinBudgetShare:P2} in budget), {counts.Refused} refused, {counts.Errors} errors, goodput {counts.GoodputPerSecond:0.00}/s{Because(counts)}"));
        return counts;
    }

    /// <summary>
    /// Robots on 2 silos: after <paramref name="warmupSeconds"/> the second silo is SIGKILLed; driven for
    /// <paramref name="windowSeconds"/> more. Gaps are periods without an executable action that end after the kill.
    /// </summary>
    public async Task<FailoverResult> RunFailoverAsync(int count, string model, SimFleetBenchmark.Spec spec, RobotPace pace, double warmupSeconds, double windowSeconds, TextWriter log)
    {
        var robots = await AddRobotsAsync("failover", count, spec, pace);
        var f = Stopwatch.Frequency;
        var countFrom = Stopwatch.GetTimestamp() + (long)(warmupSeconds * f);
        var end = countFrom + (long)(windowSeconds * f);
        var drive = SimRobots.DriveAsync(_channels, robots, pace, model, spec.StateDim, spec.Cameras, spec.Samples, countFrom, end);
        await Task.Delay(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), countFrom));
        var kill = Stopwatch.GetTimestamp();
        var bufferedUntil = robots.Select(r => Volatile.Read(ref r.ActionsUntil)).ToList();
        var buffered = bufferedUntil.Select(until => until > kill).ToList();
        Silos[1].Process.KillHard();
        var counts = await drive;
        var gaps = new List<double>();
        var bufferedThenEmpty = 0;
        for (var i = 0; i < robots.Count; i++)
        {
            var after = robots[i].Empty.Where(e => e.To > kill).ToList();
            gaps.Add(after.Count == 0 ? 0 : after.Max(e => (e.To - Math.Max(e.From, kill)) * 1000.0 / f));
            bufferedThenEmpty += buffered[i] && after.Count > 0 ? 1 : 0;
        }

        for (var i = 0; i < robots.Count; i++)
        {
            // Where a gap came from: what the robot's failed requests after the kill said, and when (ms after the kill).
            var failures = robots[i].Failures.Where(e => e.At > kill).ToList();
            if (gaps[i] > 0 || failures.Count > 0)
            {
                var kinds = string.Join("; ", failures.GroupBy(e => e.Kind).Select(g =>
                    string.Create(CultureInfo.InvariantCulture, $"{g.Count()}x [{Ms(g.First().At)}..{Ms(g.Last().At)} ms] {g.Key}")));
                var timeline = string.Join(", ", robots[i].Requests.Where(r => r.Done > kill).Take(6).Select(r => string.Create(CultureInfo.InvariantCulture, $"{Ms(r.Sent)}..{Ms(r.Done)} {r.Outcome}")));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {robots[i].Id}: gap {gaps[i]:0} ms{(buffered[i] ? $", held actions at the kill until {Ms(bufferedUntil[i])} ms" : "")}; requests after the kill (ms): {timeline}; {failures.Count} failed: {kinds}"));
            }
        }

        // How the survivor found it dead: its own check of the refused port, or membership's probes.
        log.WriteLine("    silo 2 SIGKILLed; silo 1 said:");
        var said = Silos[0].Process.Output.Split('\n');
        // A console log entry is a header line (timestamp, level, category) and the message on the next.
        foreach (var i in Enumerable.Range(1, Math.Max(0, said.Length - 1)).Where(i => said[i].Contains("refuses connections", StringComparison.Ordinal) || said[i].Contains("mark silo", StringComparison.Ordinal)).Take(6))
        {
            log.WriteLine($"      {said[i - 1].Trim()} {said[i].Trim()[..Math.Min(200, said[i].Trim().Length)]}");
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  failover: {count} robots, silo 2 SIGKILLed; {buffered.Count(b => b)} held actions at the kill, {bufferedThenEmpty} of them ran empty; " +
            $"longest gap p99 {Stats.Percentile(gaps, 0.99):0} ms, max {gaps.Max():0} ms; {counts.Answered} answered, {counts.Errors} errors{Because(counts)}"));
        return new FailoverResult(counts, gaps, buffered.Count(b => b), bufferedThenEmpty);

        double Ms(long at) => Math.Round((at - kill) * 1000.0 / f);
    }

    /// <summary>
    /// From every silo's /metrics so far: the requests its inference grains answered (-1 for a silo that does not answer),
    /// the hedges its robot grains sent and the requests its inference grains answered after their deadline (both summed
    /// over the silos): answers a robot got late that its silo sent in time were late on the way back.
    /// </summary>
    public async Task<SiloCounters> CountersAsync()
    {
        var served = new List<long>();
        long hedges = 0, late = 0;
        foreach (var silo in Silos)
        {
            try
            {
                using var http = ProcessCluster.CreateClient(silo, TimeSpan.FromSeconds(5));
                var lines = (await http.GetStringAsync("/metrics")).Split('\n');
                served.Add(Sum(lines, "a1fleet_inference_requests"));
                hedges += Sum(lines, "a1fleet_inference_hedges");
                late += Sum(lines, "a1fleet_inference_budget_misses");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
            {
                served.Add(-1);
            }
        }

        return new SiloCounters(served, hedges, late);

        static long Sum(string[] lines, string metric) => (long)lines
            .Where(l => l.StartsWith(metric, StringComparison.Ordinal) && !l.Contains("_bucket", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    private async Task<List<SimRobot>> AddRobotsAsync(string phase, int count, SimFleetBenchmark.Spec spec, RobotPace pace)
    {
        var first = _robots;
        _robots += count;
        var robots = new SimRobot[count];
        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var id = $"sim-{first + i + 1:D4}";
                var key = await ProcessCluster.IssueRobotCredential(Silos[i % Silos.Count].Url, id);
                var robot = new SimRobot(id, phase, key);
                await SimRobots.BindAsync(SimFleetBenchmark.Client(_channels[i % _channels.Count]), robot, spec.ModelId, spec.StateDim, spec.Cameras, pace.ControlHz);
                robots[i] = robot;
            }
            finally
            {
                gate.Release();
            }
        }));
        using var admin = ProcessCluster.ApiClient(Silos[0].Url, TimeSpan.FromSeconds(60));
        (await admin.PostAsync("/api/assignments", JsonBody(new { selector = $"tag:{phase}", instruction = Instruction }))).EnsureSuccessStatusCode();
        return [.. robots];
    }

    private static string Because(PhaseCounts counts) => counts.FirstError is null ? "" : $" (first error: {counts.FirstError})";

    private static StringContent JsonBody(object body) => new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        Cluster.Dispose();
    }
}

/// <summary>What the silos' /metrics say of a phase: requests answered per silo (-1: the silo did not answer), hedges sent, and answers the silos sent after their deadline.</summary>
internal sealed record SiloCounters(List<long> ServedPerSilo, long Hedges, long LateAtSilos);
