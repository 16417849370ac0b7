using A1Fleet.Bench;
using A1Fleet.Bench.Policy;
using A1Fleet.Bench.Reliability;
using A1Fleet.Bench.SimFleet;

// dotnet run -c Release --project bench/A1Fleet.Bench -- engine|fleet|reliability|simfleet|policy|policy-episodes|demonstrations [--quick] ...; --help lists each one's flags.
// The scenarios take no cancellation: Ctrl-C stops the bench (exit 130), killing the processes the reliability suite
// started (redis-server, silos, agents) rather than leaving them running.
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    Console.Error.WriteLine("bench: interrupted; stopping the processes it started");
    A1Fleet.ProcessHarness.ManagedProcess.KillAll();
    Environment.Exit(130);
};
return await BenchCommandLine.RunAsync(args, Console.Out, Console.Error, async (scenario, _, benchArgs) => scenario switch
{
    "engine" => EngineBenchmark.Run(benchArgs!),
    "fleet" => await FleetBenchmark.RunAsync(benchArgs!),
    "reliability" => await ReliabilityBenchmark.RunAsync(benchArgs!),
    "simfleet" => await SimFleetBenchmark.RunAsync(benchArgs!),
    // The command line is checked above; these three read their (train-lane) flags from it themselves.
    "demonstrations" => await DemonstrationsCommand.RunAsync(args[1..]),
    "policy" => await PolicyBenchmark.RunAsync(PolicyArgs.Parse(args[1..])),
    "policy-episodes" => PolicyEpisodesCommand.Run(args[1..]),
    _ => BenchCommandLine.Usage,
});
