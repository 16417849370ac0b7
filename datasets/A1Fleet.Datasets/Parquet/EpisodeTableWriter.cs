using global::Parquet;
using global::Parquet.Schema;

namespace A1Fleet.Datasets.Parquet;

/// <summary>
/// Writes an <see cref="EpisodeTable"/> as a LeRobot-style parquet file: list&lt;float&gt; vectors,
/// image structs {bytes, path}, float32 reals and int64 integers. Cells are written as given (no
/// shape checks), so tests can also produce deliberately broken files.
/// </summary>
public static class EpisodeTableWriter
{
    public static async Task WriteAsync(string path, EpisodeTable table, CancellationToken cancellationToken)
    {
        var vectorFields = table.Vectors.Keys.ToDictionary(k => k, k => new ListField(k, new DataField<float>("element")));
        var imageFields = table.Images.Keys.ToDictionary(k => k, k => new StructField(k, new DataField<byte[]>("bytes"), new DataField<string>("path")));
        var realFields = table.Reals.Keys.ToDictionary(k => k, k => new DataField<float>(k));
        var integerFields = table.Integers.Keys.ToDictionary(k => k, k => new DataField<long>(k));
        var schema = new ParquetSchema(
            vectorFields.Values.Cast<Field>()
                .Concat(imageFields.Values)
                .Concat(realFields.Values)
                .Concat(integerFields.Values));

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        using var group = writer.CreateRowGroup();
        foreach (var (key, field) in vectorFields)
        {
            await WriteVectorsAsync(group, (DataField)field.Item, table.Vectors[key], cancellationToken);
        }

        foreach (var (key, field) in imageFields)
        {
            var cells = table.Images[key];
            await group.WriteAsync((DataField)field.Fields[0], cells.Select(c => c?.Bytes).ToList()!, null);
            await group.WriteAsync((DataField)field.Fields[1], cells.Select(c => c?.Path).ToList()!, null);
        }

        foreach (var (key, field) in realFields)
        {
            await group.WriteAsync<float>(field, Required(table.Reals[key], key), null, null, cancellationToken);
        }

        foreach (var (key, field) in integerFields)
        {
            await group.WriteAsync<long>(field, Required(table.Integers[key], key), null, null, cancellationToken);
        }

        group.CompleteValidate();
    }

    /// <summary>Dremel levels for a list column: each row starts at repetition 0; an empty or null list takes one level entry with no value.</summary>
    private static async Task WriteVectorsAsync(ParquetRowGroupWriter group, DataField item, float[]?[] rows, CancellationToken ct)
    {
        var values = new List<float>();
        var definition = new List<int>();
        var repetition = new List<int>();
        foreach (var row in rows)
        {
            if (row is null || row.Length == 0)
            {
                // Levels of ListField(non-null element): 0 = null list, 1 = empty list, 2 = value.
                definition.Add(row is null ? 0 : 1);
                repetition.Add(0);
                continue;
            }

            for (var i = 0; i < row.Length; i++)
            {
                values.Add(row[i]);
                definition.Add(item.MaxDefinitionLevel);
                repetition.Add(i == 0 ? 0 : 1);
            }
        }

        await group.WriteAllPartsAsync<float>(item, values.ToArray(), definition.ToArray(), repetition.ToArray(), ct);
    }

    private static T[] Required<T>(T?[] cells, string key)
        where T : struct
    {
        var result = new T[cells.Length];
        for (var i = 0; i < cells.Length; i++)
        {
            result[i] = cells[i] ?? throw new ArgumentException($"column '{key}' row {i} is null; the writer stores scalars as required columns", nameof(cells));
        }

        return result;
    }
}
