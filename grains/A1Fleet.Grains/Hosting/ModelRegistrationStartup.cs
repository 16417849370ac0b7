using A1Fleet.EarlyExit;
using A1Fleet.Grains.Inference;
using A1Fleet.Engine.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace A1Fleet.Grains.Hosting;

/// <summary>
/// When a GPU silo becomes active: loads its models (through <see cref="InferenceService"/>),
/// registers each model's spec with its model grain, and publishes the package's shipped threshold
/// sets if the cluster has none yet for that model, then registers this silo as serving it (robots spread their requests
/// over the serving silos). Readiness waits for this.
/// </summary>
public sealed partial class ModelRegistrationStartup(
    InferenceService inference,
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IOptions<InferenceBatchingOptions> fleetOptions,
    ILogger<ModelRegistrationStartup> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when every model this silo serves is registered.</summary>
    public Task Ready => _ready.Task;

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    public IReadOnlyCollection<string> Models => inference.Catalog.ModelIds;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ModelRegistrationStartup), ServiceLifecycleStage.Active, OnActive);

    private async Task OnActive(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var modelId in inference.Catalog.ModelIds)
            {
                inference.Catalog.TryGet(modelId, out var engine);
                var m = engine.Manifest;
                var model = grains.GetGrain<IModelGrain>(modelId);
                await model.RegisterSpec(new ModelSpec(modelId, m.ModelVersion, m.State.Dim, engine.ValidActionDims, m.Action.Chunk,
                    [.. m.Cameras.Select(c => new CameraInfo(c.Name, c.Height, c.Width))], m.State.Q01, m.State.Q99, m.LanguageModel.Layers, [.. m.Exits.Layers]));

                // The cheapest answer this silo can give (batch 1, first exit, the fleet's decode): the floor of any budget.
                var firstExitMs = new CostModel(inference.PricesOf(modelId), engine.ExitLayers, 1)
                    .Predict(1, engine.ExitLayers[0], DecodeSettings.Of(fleetOptions.Value.Decode));
                await model.ReportFirstExitMs(firstExitMs);

                var info = await model.GetInfo();
                if (info.Versions.Count == 0)
                {
                    foreach (var relative in m.ThresholdSets)
                    {
                        var set = ThresholdSet.Load(engine.Package.PathOf(relative));
                        var live = set.Name == inference.Options.DefaultThresholdSet;
                        await model.Publish(new ThresholdDocument(set.Version, set.Name, set.ToJson(), DateTimeOffset.UtcNow), live);
                    }
                }

                // Last: robots route to this silo from here on, with the spec and thresholds in place.
                await model.RegisterServingSilo(silo.SiloAddress.ToParsableString());
                await grains.GetGrain<IFleetGrain>(Fleet.FleetGrainKeys.Default).RegisterModel(modelId);
                LogRegistered(modelId, m.ThresholdSets.Count);
            }

            _ready.TrySetResult();
        }
        catch (Exception ex)
        {
            _ready.TrySetException(ex);
            throw;
        }
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Information, Message = "Model {ModelId} registered with the cluster ({Sets} shipped threshold sets)")]
    private partial void LogRegistered(string modelId, int sets);
}
