using A1Fleet.Grains;

namespace A1Fleet.Operator;

/// <summary>Plain aligned text tables: readable in a terminal, greppable in a log.</summary>
internal static class Table
{
    /// <summary>Every cell is escaped (<see cref="Printable.Escape"/>): cells hold what clients sent, which must not drive the terminal.</summary>
    public static void Write(TextWriter output, IReadOnlyList<string> headers, IReadOnlyList<string[]> rawRows)
    {
        var rows = rawRows.Select(r => r.Select(Printable.Escape).ToArray()).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine(string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
