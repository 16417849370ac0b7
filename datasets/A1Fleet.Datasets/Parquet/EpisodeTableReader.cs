using global::Parquet;
using global::Parquet.Schema;

namespace A1Fleet.Datasets.Parquet;

/// <summary>
/// Reads the requested columns of an episode parquet file with Parquet.Net's low-level API, which
/// handles files written by pyarrow / Hugging Face datasets (3-level lists, nullable elements,
/// several row groups) as well as our own writer's.
/// </summary>
public static class EpisodeTableReader
{
    /// <exception cref="InvalidDataException">The file is not parquet, or a required column is missing or of the wrong type; the message names the column.</exception>
    public static async Task<EpisodeTable> ReadAsync(string path, IReadOnlyList<ColumnRequest> columns, CancellationToken cancellationToken)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidDataException($"not a readable parquet file: {ex.Message}", ex);
        }

        await using (reader)
        {
            var rows = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                rows = checked(rows + (int)group.RowCount);
            }

            var table = new EpisodeTable(rows);
            foreach (var column in columns)
            {
                var field = reader.Schema.Fields.FirstOrDefault(f => f.Name == column.Key);
                if (field is null)
                {
                    if (column.Required)
                    {
                        throw new InvalidDataException($"column '{column.Key}' is missing (columns: {string.Join(", ", reader.Schema.Fields.Select(f => f.Name))})");
                    }

                    continue;
                }

                if (rows == 0)
                {
                    // Column readers choke on empty chunks; an empty episode is reported by the caller, by name.
                    AddEmptyColumn(column, table);
                    continue;
                }

                try
                {
                    await ReadColumnAsync(reader, field, column, table, cancellationToken);
                }
                catch (Exception ex) when (ex is not (OperationCanceledException or InvalidDataException))
                {
                    throw new InvalidDataException($"column '{column.Key}' could not be read: {ex.Message}", ex);
                }
            }

            return table;
        }
    }

    private static async Task ReadColumnAsync(ParquetReader reader, Field field, ColumnRequest column, EpisodeTable table, CancellationToken ct)
    {
        switch (column.Kind)
        {
            case ColumnKind.Vector:
                table.Vectors[column.Key] = await ReadVectorsAsync(reader, field, table.Rows, ct);
                break;
            case ColumnKind.Image:
                table.Images[column.Key] = await ReadImagesAsync(reader, field, table.Rows, ct);
                break;
            case ColumnKind.Real:
                table.Reals[column.Key] = await ReadScalarsAsync(reader, ScalarField(field, column.Key), table.Rows, ToReal, ct);
                break;
            case ColumnKind.Integer:
                table.Integers[column.Key] = await ReadScalarsAsync(reader, ScalarField(field, column.Key), table.Rows, ToInteger, ct);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(column), column.Kind, "unknown column kind");
        }
    }

    private static void AddEmptyColumn(ColumnRequest column, EpisodeTable table)
    {
        switch (column.Kind)
        {
            case ColumnKind.Vector:
                table.Vectors[column.Key] = [];
                break;
            case ColumnKind.Image:
                table.Images[column.Key] = [];
                break;
            case ColumnKind.Real:
                table.Reals[column.Key] = [];
                break;
            default:
                table.Integers[column.Key] = [];
                break;
        }
    }

    private static DataField ScalarField(Field field, string key) => field as DataField
        ?? throw new InvalidDataException($"column '{key}' is a {field.SchemaType} column; a scalar was expected");

    private static async Task<float[]?[]> ReadVectorsAsync(ParquetReader reader, Field field, int rows, CancellationToken ct)
    {
        var result = new float[]?[rows];
        if (field is DataField scalar)
        {
            // A one-dimensional feature may be stored as a plain scalar column.
            var values = await ReadScalarsAsync(reader, scalar, rows, ToReal, ct);
            for (var r = 0; r < rows; r++)
            {
                result[r] = values[r] is { } v ? [v] : null;
            }

            return result;
        }

        if (field is not ListField { Item: DataField item } || !IsFloat(item.ClrType))
        {
            throw new InvalidDataException($"column '{field.Name}' is not a list of float32/float64 values (schema: {field})");
        }

        var offset = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = (int)(group.GetMetadata(item)?.MetaData?.NumValues ?? 0);
            var definition = new int[count];
            var repetition = new int[count];
            float[] values;
            if (item.ClrType == typeof(double))
            {
                var doubles = new double[count];
                await group.ReadRawAsync<double>(item, doubles, definition, repetition, ct);
                values = Array.ConvertAll(doubles, d => (float)d);
            }
            else
            {
                values = new float[count];
                await group.ReadRawAsync<float>(item, values, definition, repetition, ct);
            }

            AssembleLists(values, definition, repetition, item, result.AsSpan(offset, (int)group.RowCount));
            offset += (int)group.RowCount;
        }

        return result;
    }

    /// <summary>
    /// Rebuilds one list per row from Dremel levels: repetition 0 starts a row; a full definition
    /// level is a value (values are packed, nulls take none); one below it, on a nullable element,
    /// is a null element (kept as NaN so validation reports it); lower levels are an empty or null list.
    /// </summary>
    private static void AssembleLists(float[] values, int[] definition, int[] repetition, DataField item, Span<float[]?> rows)
    {
        var maxDefinition = item.MaxDefinitionLevel;
        var row = -1;
        var next = 0;
        List<float>? current = null;
        bool listDefined = false;
        for (var i = 0; i < definition.Length; i++)
        {
            if (repetition[i] == 0)
            {
                Flush(rows, row, current, listDefined);
                row++;
                current = [];
                // The list itself is null only at the lowest levels: everything from "empty list" up means it exists.
                listDefined = definition[i] >= maxDefinition - (item.IsNullable ? 2 : 1);
            }

            if (definition[i] == maxDefinition)
            {
                current!.Add(values[next++]);
            }
            else if (item.IsNullable && definition[i] == maxDefinition - 1)
            {
                current!.Add(float.NaN);
            }
        }

        Flush(rows, row, current, listDefined);
    }

    private static void Flush(Span<float[]?> rows, int row, List<float>? current, bool listDefined)
    {
        if (row >= 0 && row < rows.Length)
        {
            rows[row] = listDefined ? [.. current!] : null;
        }
    }

    private static async Task<EncodedImage?[]> ReadImagesAsync(ParquetReader reader, Field field, int rows, CancellationToken ct)
    {
        DataField? bytesField;
        DataField? pathField = null;
        if (field is StructField structField)
        {
            bytesField = structField.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == "bytes");
            pathField = structField.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == "path");
        }
        else
        {
            bytesField = field as DataField;
        }

        if (bytesField is null && pathField is null)
        {
            throw new InvalidDataException($"column '{field.Name}' is not an image struct {{bytes, path}} (schema: {field})");
        }

        var bytes = bytesField is null ? null : await ReadBytesAsync(reader, bytesField, rows, ct);
        var paths = pathField is null ? null : await ReadStringsAsync(reader, pathField, rows, ct);
        var result = new EncodedImage?[rows];
        for (var r = 0; r < rows; r++)
        {
            var data = bytes?[r];
            var path = paths?[r];
            result[r] = (data is null || data.Length == 0) && string.IsNullOrEmpty(path) ? null : new EncodedImage(data, string.IsNullOrEmpty(path) ? null : path);
        }

        return result;
    }

    private static async Task<byte[]?[]> ReadBytesAsync(ParquetReader reader, DataField field, int rows, CancellationToken ct)
    {
        var cells = await ReadBinaryAsync<byte>(reader, field, rows, ct);
        return Array.ConvertAll(cells, c => c?.ToArray());
    }

    private static async Task<string?[]> ReadStringsAsync(ParquetReader reader, DataField field, int rows, CancellationToken ct)
    {
        var cells = await ReadBinaryAsync<char>(reader, field, rows, ct);
        return Array.ConvertAll(cells, c => c is { } chars ? new string(chars.Span) : null);
    }

    /// <summary>
    /// Binary/string cells with nulls in their rows. Parquet.Net 6.1's Memory&lt;byte[]&gt; and
    /// Memory&lt;string&gt; overloads pack the defined values to the front, so a null image would
    /// shift every later frame's image up by one row; the generic nullable overload keeps rows aligned.
    /// </summary>
    private static async Task<ReadOnlyMemory<T>?[]> ReadBinaryAsync<T>(ParquetReader reader, DataField field, int rows, CancellationToken ct)
    {
        var result = new ReadOnlyMemory<T>?[rows];
        var offset = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = (int)group.RowCount;
            if (field.MaxDefinitionLevel > 0)
            {
                await group.ReadAsync<ReadOnlyMemory<T>>(field, result.AsMemory(offset, count), null, ct);
            }
            else
            {
                var plain = new ReadOnlyMemory<T>[count];
                await group.ReadAsync<ReadOnlyMemory<T>>(field, plain.AsMemory(), null, ct);
                for (var r = 0; r < count; r++)
                {
                    result[offset + r] = plain[r];
                }
            }

            offset += count;
        }

        return result;
    }

    private static async Task<TOut?[]> ReadScalarsAsync<TOut>(ParquetReader reader, DataField field, int rows, Func<object, TOut> convert, CancellationToken ct)
        where TOut : struct
    {
        var result = new TOut?[rows];
        var offset = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = (int)group.RowCount;
            var raw = field.ClrType switch
            {
                var t when t == typeof(float) => await ReadBoxedAsync<float>(group, field, count, ct),
                var t when t == typeof(double) => await ReadBoxedAsync<double>(group, field, count, ct),
                var t when t == typeof(int) => await ReadBoxedAsync<int>(group, field, count, ct),
                var t when t == typeof(long) => await ReadBoxedAsync<long>(group, field, count, ct),
                var t => throw new InvalidDataException($"column '{field.Name}' holds {t.Name}; a number was expected"),
            };
            for (var r = 0; r < count; r++)
            {
                result[offset + r] = raw[r] is { } value ? convert(value) : null;
            }

            offset += count;
        }

        return result;
    }

    private static async Task<object?[]> ReadBoxedAsync<T>(ParquetRowGroupReader group, DataField field, int count, CancellationToken ct)
        where T : struct
    {
        // Nullable columns must be read through the nullable overload (definition levels); plain ones cannot be.
        if (field.MaxDefinitionLevel > 0)
        {
            var nullable = new T?[count];
            await group.ReadAsync<T>(field, nullable.AsMemory(), null, ct);
            return Array.ConvertAll(nullable, v => v.HasValue ? (object?)v.Value : null);
        }

        var plain = new T[count];
        await group.ReadAsync<T>(field, plain.AsMemory(), null, ct);
        return Array.ConvertAll(plain, v => (object?)v);
    }

    private static bool IsFloat(Type type) => type == typeof(float) || type == typeof(double);

    private static float ToReal(object value) => Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture);

    private static long ToInteger(object value) => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
}
