using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace A1Fleet.Datasets.Training;

/// <summary>
/// Writes one array as a NumPy .npy file, format version 1.0 (what <c>np.load</c> reads): the magic, a header
/// dict with the dtype, C order and the shape, padded so the data starts on a 64-byte boundary, then the values
/// little-endian in C order. The shape is given up front and the values are streamed, so arrays larger than
/// memory (a dataset's images) can be written episode by episode; disposing checks every value was written.
/// </summary>
public sealed class NpyWriter : IDisposable
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];
    private readonly FileStream _stream;
    private readonly long _expected;
    private readonly int _itemSize;
    private long _written;

    private NpyWriter(string path, string descr, int itemSize, IReadOnlyList<long> shape)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("the .npy writer writes little-endian values from memory");
        }

        Path = path;
        Shape = shape;
        _itemSize = itemSize;
        _expected = shape.Aggregate(1L, (a, b) => a * b);
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var header = Header(descr, shape);
        _stream.Write(Magic);
        _stream.Write(BitConverter.GetBytes((ushort)header.Length));
        _stream.Write(header);
    }

    public string Path { get; }

    public IReadOnlyList<long> Shape { get; }

    public static NpyWriter Float32(string path, params long[] shape) => new(path, "<f4", sizeof(float), shape);

    public static NpyWriter Int32(string path, params long[] shape) => new(path, "<i4", sizeof(int), shape);

    public static NpyWriter UInt8(string path, params long[] shape) => new(path, "|u1", 1, shape);

    public void Write(ReadOnlySpan<float> values) => WriteRaw(MemoryMarshal.AsBytes(values), values.Length, sizeof(float));

    public void Write(ReadOnlySpan<int> values) => WriteRaw(MemoryMarshal.AsBytes(values), values.Length, sizeof(int));

    public void Write(ReadOnlySpan<byte> values) => WriteRaw(values, values.Length, 1);

    public void Dispose()
    {
        _stream.Dispose();
        if (_written != _expected)
        {
            throw new InvalidOperationException($"{Path}: {_written} values written, the shape ({string.Join(", ", Shape)}) holds {_expected}");
        }
    }

    /// <summary>The header dict, e.g. <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 8), }</c>, space-padded and newline-terminated.</summary>
    internal static byte[] Header(string descr, IReadOnlyList<long> shape)
    {
        var dims = shape.Count == 1
            ? $"({shape[0].ToString(CultureInfo.InvariantCulture)},)"
            : $"({string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture)))})";
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}";
        var unpadded = Magic.Length + sizeof(ushort) + dict.Length + 1;
        var padding = (64 - (unpadded % 64)) % 64;
        return Encoding.ASCII.GetBytes(dict + new string(' ', padding) + "\n");
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes, int count, int itemSize)
    {
        if (itemSize != _itemSize)
        {
            throw new ArgumentException($"{Path} holds {_itemSize}-byte items, got {itemSize}-byte ones");
        }

        if (_written + count > _expected)
        {
            throw new InvalidOperationException($"{Path}: writing {count} more values overflows the shape ({string.Join(", ", Shape)})");
        }

        _stream.Write(bytes);
        _written += count;
    }
}
