namespace A1Fleet.Datasets.Parquet;

/// <summary>An image cell as LeRobot stores it: the encoded file (PNG/JPEG) inline, or a path to one.</summary>
public sealed record EncodedImage(byte[]? Bytes, string? Path);

/// <summary>
/// One episode's parquet file as columns, by feature key. Cells stay raw (a list may have the wrong
/// length, an image may not decode): judging them is the dataset reader's job, which can then name
/// the episode and frame. Columns keep insertion order, which is the order they are written in.
/// </summary>
public sealed class EpisodeTable
{
    public EpisodeTable(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        Rows = rows;
    }

    public int Rows { get; }

    /// <summary>list&lt;float&gt; columns such as observation.state and action; null where the list is null.</summary>
    public Dictionary<string, float[]?[]> Vectors { get; } = new(StringComparer.Ordinal);

    /// <summary>Image struct columns {bytes, path}; null where the struct is null.</summary>
    public Dictionary<string, EncodedImage?[]> Images { get; } = new(StringComparer.Ordinal);

    /// <summary>Floating-point scalar columns such as timestamp.</summary>
    public Dictionary<string, float?[]> Reals { get; } = new(StringComparer.Ordinal);

    /// <summary>Integer scalar columns such as frame_index, episode_index, index, task_index.</summary>
    public Dictionary<string, long?[]> Integers { get; } = new(StringComparer.Ordinal);
}

/// <summary>How a requested column is to be read.</summary>
public enum ColumnKind
{
    Vector,
    Image,
    Real,
    Integer,
}

/// <summary>A column to read; a missing required column fails the episode, a missing optional one is left out.</summary>
public sealed record ColumnRequest(string Key, ColumnKind Kind, bool Required = true);
