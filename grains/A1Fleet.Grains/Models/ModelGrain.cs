using Orleans.Concurrency;

namespace A1Fleet.Grains.Models;

[GenerateSerializer, Alias("a1.ModelState")]
public sealed class ModelState
{
    [Id(0)] public ModelSpec? Spec { get; set; }
    [Id(1)] public List<ThresholdDocument> Versions { get; set; } = [];
    [Id(2)] public string? LiveVersion { get; set; }
    [Id(3)] public Dictionary<string, string> Names { get; set; } = [];
    [Id(4)] public Dictionary<string, int> SampleCounts { get; set; } = [];
    [Id(5)] public Dictionary<string, double> LayerFractions { get; set; } = [];
    [Id(6)] public double? FirstExitMs { get; set; }

    /// <summary>Silos that registered as serving the model (parsable silo addresses); dead ones are pruned on the next registration.</summary>
    [Id(7)] public List<string> ServingSilos { get; set; } = [];
}

/// <summary>
/// A model's published threshold versions and which is live. Inference grains poll <see cref="GetLive"/>
/// between batches; operators roll back with <see cref="SetLive"/>. Threshold documents are small
/// (one double per exit) so every version stays in state.
/// </summary>
public sealed class ModelGrain(
    [PersistentState("model", FleetOptions.StorageName)] IPersistentState<ModelState> state,
    IClusterMembershipService membership) : Grain, IModelGrain
{
    public async Task RegisterSpec(ModelSpec spec)
    {
        var current = state.State.Spec;
        if (current is not null && (current.ModelVersion != spec.ModelVersion || current.StateDim != spec.StateDim || current.ActionDim != spec.ActionDim))
        {
            throw new InvalidOperationException($"model '{spec.ModelId}' is registered as version {current.ModelVersion} ({current.StateDim} state / {current.ActionDim} action dims); a silo tried to register version {spec.ModelVersion} ({spec.StateDim}/{spec.ActionDim}). Serve one version per model id.");
        }

        if (current is null)
        {
            state.State.Spec = spec;
            await state.WriteStateAsync();
        }
    }

    [ReadOnly]
    public Task<ModelSpec?> GetSpec() => Task.FromResult(state.State.Spec);

    public async Task<ThresholdVersionInfo> Publish(ThresholdDocument document, bool makeLive)
    {
        if (string.IsNullOrWhiteSpace(document.Version) || string.IsNullOrWhiteSpace(document.Json))
        {
            throw new ArgumentException("a threshold document needs a version and its JSON");
        }

        var set = EarlyExit.ThresholdSet.FromJson(document.Json);
        if (set.ModelId != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"threshold set was calibrated for model '{set.ModelId}', not '{this.GetPrimaryKeyString()}'");
        }

        if (state.State.Spec is { } spec && !set.ExitLayers.SequenceEqual(spec.ExitLayers))
        {
            throw new ArgumentException($"threshold set exits [{string.Join(",", set.ExitLayers)}] do not match the model's [{string.Join(",", spec.ExitLayers)}]");
        }

        if (state.State.Versions.All(v => v.Version != document.Version))
        {
            state.State.Versions.Add(document);
            state.State.Names[document.Version] = document.Name;
            state.State.SampleCounts[document.Version] = set.SampleCount;
            state.State.LayerFractions[document.Version] = set.ExpectedLayerFraction;
        }

        if (makeLive || state.State.LiveVersion is null)
        {
            state.State.LiveVersion = document.Version;
        }

        await state.WriteStateAsync();
        return Info(document);
    }

    [ReadOnly]
    public Task<ThresholdDocument?> GetLive() =>
        Task.FromResult(state.State.Versions.FirstOrDefault(v => v.Version == state.State.LiveVersion));

    [ReadOnly]
    public Task<ThresholdDocument?> GetVersion(string version) =>
        Task.FromResult(state.State.Versions.FirstOrDefault(v => v.Version == version));

    [ReadOnly]
    public Task<ModelInfo> GetInfo() =>
        Task.FromResult(new ModelInfo(this.GetPrimaryKeyString(), state.State.LiveVersion, state.State.Versions.Select(Info).ToList(), state.State.FirstExitMs,
            ServingNow()));

    public async Task ReportFirstExitMs(double firstExitMs)
    {
        if (!double.IsFinite(firstExitMs) || firstExitMs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(firstExitMs), firstExitMs, "a first-exit time must be a positive number of ms");
        }

        if (state.State.FirstExitMs is not { } known || firstExitMs < known)
        {
            state.State.FirstExitMs = firstExitMs;
            await state.WriteStateAsync();
        }
    }

    public async Task<ThresholdVersionInfo> SetLive(string version)
    {
        var document = state.State.Versions.FirstOrDefault(v => v.Version == version)
            ?? throw new ArgumentException($"model '{this.GetPrimaryKeyString()}' has no threshold version '{version}' (has: {string.Join(", ", state.State.Versions.Select(v => v.Version))})");
        state.State.LiveVersion = version;
        await state.WriteStateAsync();
        return Info(document);
    }

    public async Task RegisterServingSilo(string silo)
    {
        // Parsed to refuse garbage before it is persisted; the string form is the grain key robots use.
        var key = SiloAddress.FromParsableString(silo).ToParsableString();
        var serving = state.State.ServingSilos;
        var removed = serving.RemoveAll(IsDead);
        var added = !serving.Contains(key);
        if (added)
        {
            serving.Add(key);
        }

        if (removed > 0 || added)
        {
            await state.WriteStateAsync();
        }
    }

    /// <summary>
    /// Persisted, so the list survives this grain's own silo; silos this silo's membership view reports dead are left out
    /// here and pruned at the next registration. Robots also leave out the silos their own view does not list as active.
    /// </summary>
    [ReadOnly]
    public Task<ModelServing> GetServing() =>
        Task.FromResult(new ModelServing(ServingNow(), state.State.FirstExitMs));

    private string[] ServingNow() => [.. state.State.ServingSilos.Where(s => !IsDead(s))];

    private bool IsDead(string silo) => membership.CurrentSnapshot.GetSiloStatus(SiloAddress.FromParsableString(silo)) == SiloStatus.Dead;

    private ThresholdVersionInfo Info(ThresholdDocument d) => new(
        d.Version,
        d.Name,
        d.PublishedAt,
        state.State.SampleCounts.GetValueOrDefault(d.Version),
        state.State.LayerFractions.GetValueOrDefault(d.Version),
        d.Version == state.State.LiveVersion);
}
