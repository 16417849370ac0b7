using A1Fleet.Demo;

try
{
    return args.FirstOrDefault() switch
    {
        "engine" => await EngineDemo.RunAsync(args[1..]),
        "fleet" => await FleetDemo.RunAsync(args[1..]),
        null => await FleetDemo.RunAsync(args),
        _ when args[0].StartsWith("--", StringComparison.Ordinal) => await FleetDemo.RunAsync(args),
        _ => Usage(),
    };
}
catch (OperationCanceledException)
{
    // Ctrl-C or SIGTERM before the fleet was running: once it runs, the demo stops itself and prints its summary.
    Console.Error.WriteLine("interrupted before the fleet was running");
    return 130;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project demo/A1Fleet.Demo -- [fleet] [--agents 8] [--duration SECONDS (from when every arm is bound)] [--model NAME (default: franka-tabletop-fm for the Franka arms, small-fm for the others)] [--urls http://127.0.0.1:8080] [--record DIR] [--record-episode-seconds 20]
               dotnet run -c Release --project demo/A1Fleet.Demo -- engine [--model small-fm] [--batch 8] [--r 0.7]
        """);
    return 2;
}
