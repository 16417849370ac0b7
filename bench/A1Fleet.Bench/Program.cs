using A1Fleet.Bench;
using A1Fleet.Bench.Policy;
using A1Fleet.Bench.Reliability;

return args.FirstOrDefault() switch
{
    "engine" => EngineBenchmark.Run(BenchArgs.Parse(args.Skip(1))),
    "fleet" => await FleetBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    "reliability" => await ReliabilityBenchmark.RunAsync(BenchArgs.Parse(args.Skip(1))),
    "demonstrations" => await DemonstrationsCommand.RunAsync([.. args.Skip(1)]),
    "policy-episodes" => PolicyEpisodesCommand.Run([.. args.Skip(1)]),
    "policy" => await PolicyBenchmark.RunAsync(PolicyArgs.Parse([.. args.Skip(1)])),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project bench/A1Fleet.Bench -- engine [--quick] [--model small-fm] [--batch 8] [--out artifacts/bench]
               dotnet run -c Release --project bench/A1Fleet.Bench -- fleet  [--quick] [--model small-fm] [--load-only] [--out artifacts/bench]
               dotnet run -c Release --project bench/A1Fleet.Bench -- reliability [--quick] [--out artifacts/bench]
               dotnet run -c Release --project bench/A1Fleet.Bench -- policy [--quick] [--mlp PKG] [--fm PKG] [--episodes N] [--calibration-episodes N] [--execute-steps N] [--out artifacts/bench]
               dotnet run -c Release --project bench/A1Fleet.Bench -- policy-episodes [--package PKG] [--first-seed 1000000] [--episodes 30] [--execute-steps N]
               dotnet run -c Release --project bench/A1Fleet.Bench -- demonstrations [--episodes 40] [--image-size 64] [--first-seed 0] [--out DIR] [--dagger PKG [--dagger-episodes M]]
        """);
    return 2;
}
