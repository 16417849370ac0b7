using System.Diagnostics.Metrics;

namespace A1Fleet.Silo.Compat;

/// <summary>The compatible endpoints' metrics (meter "A1Fleet.Compat"); tags are the protocol and an outcome, never a robot id.</summary>
public sealed class CompatInstruments
{
    public const string MeterName = "A1Fleet.Compat";

    /// <summary>The protocols tagged on these instruments.</summary>
    public static readonly IReadOnlyList<string> Protocols = [OpenPiEndpoint.Protocol, A1HttpEndpoint.Protocol];

    private readonly Counter<long> _requests;
    private readonly Counter<long> _limitedChunks;
    // Observed at each collection, not added: the series exist at zero from the first scrape, whenever the exporter started.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _sessions = new(Protocols.Select(p => KeyValuePair.Create(p, 0L)));

    public CompatInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("a1fleet.compat.requests", "{request}",
            "Requests of compatible clients by protocol (openpi, a1-http) and outcome (ok, unauthenticated, rate_limited, invalid, estopped, no_instruction, lease_held, lease_lost, not_configured, model_not_served, failed)");
        _limitedChunks = meter.CreateCounter<long>("a1fleet.compat.limited_chunks", "{chunk}",
            "Chunks sent to compatible clients in which the joint limits (range, velocity, acceleration) changed at least one step, by protocol");
        meter.CreateObservableUpDownCounter("a1fleet.compat.sessions", ObserveSessions, "{session}", "Compatible clients holding a robot's lease, by protocol");
    }

    private IEnumerable<Measurement<long>> ObserveSessions() =>
        _sessions.Select(s => new Measurement<long>(s.Value, new KeyValuePair<string, object?>("protocol", s.Key)));


    public void OnRequest(string protocol, string outcome) =>
        _requests.Add(1, new KeyValuePair<string, object?>("protocol", protocol), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A chunk went out; counted when the joint limits had to change it.</summary>
    public void OnChunk(string protocol, CompatChunk chunk)
    {
        if (chunk.LimitedSteps > 0)
        {
            _limitedChunks.Add(1, new KeyValuePair<string, object?>("protocol", protocol));
        }
    }

    public void OnFailure(string protocol, CompatFailure failure) => OnRequest(protocol, Outcome(failure));

    public void OnSessionOpened(string protocol) => _sessions.AddOrUpdate(protocol, 1, (_, n) => n + 1);

    public void OnSessionClosed(string protocol) => _sessions.AddOrUpdate(protocol, 0, (_, n) => n - 1);

    public static string Outcome(CompatFailure failure) => failure switch
    {
        CompatFailure.NotConfigured => "not_configured",
        CompatFailure.ModelNotServed => "model_not_served",
        CompatFailure.LeaseHeld => "lease_held",
        CompatFailure.LeaseLost => "lease_lost",
        CompatFailure.Invalid => "invalid",
        CompatFailure.EStopped => "estopped",
        CompatFailure.NoInstruction => "no_instruction",
        CompatFailure.Unauthenticated => "unauthenticated",
        CompatFailure.RateLimited => "rate_limited",
        _ => "failed",
    };
}
