namespace A1Fleet.Grains.Security;

[GenerateSerializer, Alias("a1.AuditLogState")]
public sealed class AuditLogState
{
    [Id(0)] public long NextSequence { get; set; } = 1;
    [Id(1)] public long CurrentPage { get; set; }
    [Id(2)] public int CountInPage { get; set; }
}

[GenerateSerializer, Alias("a1.AuditPageState")]
public sealed class AuditPageState
{
    [Id(0)] public List<AuditEntry> Entries { get; set; } = [];
}

/// <summary>
/// The audit log's head: hands out sequence numbers and the page each entry goes to. Entries live in page
/// grains, so an append rewrites one page of at most <see cref="IAuditLogGrain.PageSize"/> entries, not the
/// whole log; when a page fills the head moves on and clears the page that falls out of the kept window.
/// Not reentrant: appends are ordered, so sequence numbers and pages never race.
/// </summary>
public sealed class AuditLogGrain(
    [PersistentState("audit", FleetOptions.StorageName)] IPersistentState<AuditLogState> state) : Grain, IAuditLogGrain
{
    public async Task<AuditEntry> Append(AuditEntry entry)
    {
        var S = state.State;
        if (S.CountInPage >= IAuditLogGrain.PageSize)
        {
            S.CurrentPage++;
            S.CountInPage = 0;
            if (S.CurrentPage - IAuditLogGrain.MaxPages >= 0)
            {
                await GrainFactory.GetGrain<IAuditPageGrain>(S.CurrentPage - IAuditLogGrain.MaxPages).Clear();
            }
        }

        var stored = entry with { Sequence = S.NextSequence++ };
        await GrainFactory.GetGrain<IAuditPageGrain>(S.CurrentPage).Append(stored);
        S.CountInPage++;
        await state.WriteStateAsync();
        return stored;
    }

    public async Task<IReadOnlyList<AuditEntry>> Read(DateTimeOffset? since, int limit)
    {
        var result = new List<AuditEntry>();
        var oldest = Math.Max(0, state.State.CurrentPage - IAuditLogGrain.MaxPages + 1);
        for (var page = state.State.CurrentPage; page >= oldest && result.Count < limit; page--)
        {
            var entries = await GrainFactory.GetGrain<IAuditPageGrain>(page).Read();
            for (var i = entries.Length - 1; i >= 0 && result.Count < limit; i--)
            {
                if (since is { } from && entries[i].At < from)
                {
                    // Pages are in time order: nothing older can be newer than since.
                    return result;
                }

                result.Add(entries[i]);
            }
        }

        return result;
    }
}

/// <summary>One page of audit entries, appended in order by the log's head.</summary>
public sealed class AuditPageGrain(
    [PersistentState("audit-page", FleetOptions.StorageName)] IPersistentState<AuditPageState> state) : Grain, IAuditPageGrain
{
    public async Task Append(AuditEntry entry)
    {
        state.State.Entries.Add(entry);
        await state.WriteStateAsync();
    }

    public Task<AuditEntry[]> Read() => Task.FromResult(state.State.Entries.ToArray());

    public async Task Clear()
    {
        await state.ClearStateAsync();
        DeactivateOnIdle();
    }
}
