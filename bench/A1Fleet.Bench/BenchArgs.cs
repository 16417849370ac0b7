namespace A1Fleet.Bench;

/// <summary>What the engine, fleet, reliability and simfleet scenarios are told (<see cref="BenchCommandLine"/> reads it from the command line).</summary>
internal sealed record BenchArgs(bool Quick, string Model, int Batch, string OutputDirectory, string ModelsRoot, string? Models, bool LoadOnly = false, bool SimulatedDevice = false,
    double TimeScale = 1,
    double DeviceSpeedup = 1,
    int IntraOpThreads = 0,
    double ScaleoutTimeScale = 1,
    string? Only = null)
{
    public static string DefaultOutputDirectory => Path.Combine("artifacts", "bench");

    public static string DefaultModelsRoot => Path.Combine("artifacts", "models");
}
