using A1Fleet.Grains;
using A1Fleet.Grains.Hosting;
using A1Fleet.ModelBuilder.Packaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace A1Fleet.Grains.Tests;

/// <summary>
/// Two in-process silos sharing one test cluster: the first is a GPU silo serving tiny-fm and
/// tiny-mlp, the second a CPU silo. Grain ids are unique per test, so tests share the cluster.
/// </summary>
public sealed class FleetClusterFixture : IAsyncLifetime
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "a1fleet-fleet-tests-" + Guid.NewGuid().ToString("N"));
    private int _silosConfigured;

    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    /// <summary>Every silo's <see cref="TimeProvider"/>: tests advance it to let leases lapse.</summary>
    public ShiftableClock Clock { get; } = new();

    /// <summary>The lease TTL the silos run with (the default).</summary>
    public TimeSpan LeaseTtl { get; } = new A1Fleet.Grains.Robots.RobotOptions().LeaseTtl;

    /// <summary>Standing assignments kept, lowered so a test can go past it.</summary>
    public const int MaxAssignmentsKept = 40;
    public string GpuSiloName { get; private set; } = "";
    public string TinyFmDirectory { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var fm = ReferencePackages.Ensure("tiny-fm", _models);
        TinyFmDirectory = fm;
        var mlp = ReferencePackages.Ensure("tiny-mlp", _models);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["A1Fleet:Inference:ModelPackages:0"] = fm,
            ["A1Fleet:Inference:ModelPackages:1"] = mlp,
            ["A1Fleet:Inference:Engine:MaxBatchSize"] = "16",
            ["A1Fleet:Inference:Engine:IntraOpThreads"] = "1",
            ["A1Fleet:Inference:Batching:ThresholdRefreshInterval"] = "00:00:00.200",
            ["A1Fleet:Inference:Batching:MaxGather"] = "00:00:00.020",
            ["A1Fleet:Robots:DefaultLatencyBudget"] = "00:00:02",
            ["A1Fleet:CalibrationJobs:ReminderPeriod"] = "00:00:05",
            // Flushes every 50 ms so that the flush timer keeps interleaving with commands' writes.
            ["A1Fleet:Robots:CounterFlushInterval"] = "00:00:00.050",
            ["A1Fleet:Fleet:MaxAssignmentsKept"] = MaxAssignmentsKept.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();

        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
        {
            var gpu = Interlocked.Increment(ref _silosConfigured) == 1;
            if (gpu)
            {
                GpuSiloName = options.SiloName;
            }

            silo.Services.AddSingleton<TimeProvider>(Clock);
            silo.AddMemoryGrainStorage(FleetOptions.StorageName);
            silo.Services.AddKeyedSingleton<IGrainStorage>(FleetOptions.StorageName,
                (sp, _) => new RoundTripGrainStorage(MemoryGrainStorageFactory.Create(sp, FleetOptions.StorageName), TimeSpan.FromMilliseconds(1)));
            silo.UseInMemoryReminderService();
            silo.AddA1Fleet(configuration, gpu);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(_models, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class FleetClusterCollection : ICollectionFixture<FleetClusterFixture>
{
    public const string Name = "fleet cluster";
}
