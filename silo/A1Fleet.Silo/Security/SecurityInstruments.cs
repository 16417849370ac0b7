using System.Diagnostics.Metrics;
using A1Fleet.Grains.Diagnostics;

namespace A1Fleet.Silo.Security;

/// <summary>
/// Refused operator API calls and lost audit entries, on the fleet's meter (exported as
/// a1fleet_api_refusals_total and a1fleet_audit_write_failures_total): a burst of 401s is someone guessing keys.
/// </summary>
public sealed class SecurityInstruments
{
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _auditFailures;

    public SecurityInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FleetInstruments.MeterName);
        _refusals = meter.CreateCounter<long>("a1fleet.api.refusals", "{request}", "Operator API calls refused (4xx), by status code");
        _auditFailures = meter.CreateCounter<long>("a1fleet.audit.write_failures", "{entry}", "Mutating calls whose audit entry could not be stored");
    }

    public void OnAnswered(int status)
    {
        if (status is >= 400 and < 500)
        {
            _refusals.Add(1, new KeyValuePair<string, object?>("status", status));
        }
    }

    public void OnAuditWriteFailed() => _auditFailures.Add(1);
}
