using A1Fleet.Grains;

namespace A1Fleet.Operator;

/// <summary>
/// Tables for a terminal (aligned columns under a dashed rule) or, when stdout is piped or redirected, for a
/// program: the header line, then one line per row with the cells separated by tabs (no padding, no rule).
/// </summary>
internal sealed class Table(bool terminal)
{
    public static Table Aligned { get; } = new(terminal: true);

    public static Table Plain { get; } = new(terminal: false);

    /// <summary>Every cell is escaped (<see cref="Printable.Escape"/>, tabs included): cells hold what clients sent, which must not drive the terminal.</summary>
    public void Write(TextWriter output, IReadOnlyList<string> headers, IReadOnlyList<string[]> rawRows)
    {
        var rows = rawRows.Select(r => r.Select(Printable.Escape).ToArray()).ToList();
        if (!terminal)
        {
            output.WriteLine(string.Join('\t', headers));
            foreach (var row in rows)
            {
                output.WriteLine(string.Join('\t', row));
            }

            return;
        }

        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine(string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
