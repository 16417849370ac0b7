namespace A1Fleet.Bench;

/// <summary>What the engine, fleet, reliability and simfleet scenarios are told (<see cref="BenchCommandLine"/> reads it from the command line).</summary>
internal sealed record BenchArgs(bool Quick, string Model, int Batch, string OutputDirectory, string ModelsRoot, string? Models, bool LoadOnly = false, bool SimulatedDevice = false,
    double TimeScale = 1,
    double DeviceSpeedup = 1,
    int IntraOpThreads = 0,
    string ExecutionProvider = "cpu",
    double ScaleoutTimeScale = 1,
    string? Only = null)
{
    public static string DefaultOutputDirectory => Path.Combine("artifacts", "bench");

    public static string DefaultModelsRoot => Path.Combine("artifacts", "models");

    /// <summary>The engine settings every engine of a run loads with (and the fleet bench's silo is given): one rule for all of them.</summary>
    public A1Fleet.Engine.EngineOptions EngineOptions(int maxBatchSize) =>
        new() { MaxBatchSize = maxBatchSize, IntraOpThreads = IntraOpThreads, ExecutionProvider = ExecutionProvider };
}
