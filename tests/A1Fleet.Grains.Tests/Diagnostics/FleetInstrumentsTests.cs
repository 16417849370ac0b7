using System.Diagnostics.Metrics;
using A1Fleet.Grains.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace A1Fleet.Grains.Tests.Diagnostics;

public sealed class FleetInstrumentsTests
{
    [Fact]
    public void OnHedgedAndOnFailover_CountPerModelWithWinnerAndReason()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var instruments = new FleetInstruments(factory);
        var seen = new List<(string Name, long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this test's meter: other tests' silos publish the same names.
            if (ReferenceEquals(instrument.Meter.Scope, factory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            seen.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.Start();

        instruments.OnHedged("tiny-fm", hedgeWon: true);
        instruments.OnHedged("tiny-fm", hedgeWon: false);
        instruments.OnFailover("tiny-fm", "silo_unavailable", 2);
        instruments.OnFailover("tiny-fm", "queue_full", 1);

        var hedges = seen.Where(s => s.Name == "a1fleet.inference.hedges").ToList();
        Assert.Equal(["hedge", "first"], hedges.Select(h => (string)h.Tags["winner"]!));
        Assert.All(hedges, h => Assert.Equal("tiny-fm", h.Tags["model"]));
        var failovers = seen.Where(s => s.Name == "a1fleet.inference.failovers").ToList();
        Assert.Equal([("silo_unavailable", 2L), ("queue_full", 1L)], failovers.Select(f => ((string)f.Tags["reason"]!, f.Value)));
    }
}
