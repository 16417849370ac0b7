using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// The engines a process serves, by model id. Weights load once per process and every caller
/// shares them; a request for a model the catalog lacks fails alone with <see cref="InferenceErrorKind.UnknownModel"/>.
/// </summary>
public sealed class ModelCatalog : IDisposable
{
    private readonly Dictionary<string, A1Engine> _engines = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public IReadOnlyCollection<string> ModelIds
    {
        get
        {
            lock (_gate)
            {
                return [.. _engines.Keys];
            }
        }
    }

    public A1Engine Add(string packageDirectory, EngineOptions? options = null)
    {
        var engine = A1Engine.Load(packageDirectory, options);
        lock (_gate)
        {
            if (!_engines.TryAdd(engine.ModelId, engine))
            {
                engine.Dispose();
                throw new ModelPackageException($"model '{engine.ModelId}' is already loaded; model ids must be unique within a process");
            }
        }

        return engine;
    }

    public bool TryGet(string modelId, out A1Engine engine)
    {
        lock (_gate)
        {
            return _engines.TryGetValue(modelId, out engine!);
        }
    }

    public InferenceResult[] Run(string modelId, IReadOnlyList<InferenceRequest> requests, BatchStatistics? statistics = null, Action<int, InferenceResult>? onResult = null, CancellationToken cancellationToken = default)
    {
        if (!TryGet(modelId, out var engine))
        {
            var known = string.Join(", ", ModelIds);
            var failures = requests.Select(_ => InferenceResult.Failure(InferenceErrorKind.UnknownModel, $"model '{modelId}' is not served here (serving: {(known.Length == 0 ? "none" : known)})")).ToArray();
            for (var i = 0; i < failures.Length; i++)
            {
                onResult?.Invoke(i, failures[i]);
            }

            return failures;
        }

        return engine.Run(requests, statistics, onResult, cancellationToken);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var engine in _engines.Values)
            {
                engine.Dispose();
            }

            _engines.Clear();
        }
    }
}
