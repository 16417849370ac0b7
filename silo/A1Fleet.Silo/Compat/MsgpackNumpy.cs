using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MessagePack;

namespace A1Fleet.Silo.Compat;

/// <summary>A numpy array as openpi's msgpack_numpy sends it: dtype string, shape, raw C-order bytes.</summary>
public sealed record NdArray(string Dtype, int[] Shape, ReadOnlyMemory<byte> Data)
{
    public char Kind => Dtype[1];

    public int ItemSize => Dtype.Length > 2 && int.TryParse(Dtype.AsSpan(2), out var size) ? size : 0;

    public long Count => Shape.Aggregate(1L, (product, d) => product * d);

    /// <summary>Every element as a float (bool 0/1, integers, floats); the caller bounds the count.</summary>
    public float[] ToFloats()
    {
        var values = new float[Count];
        var data = Data.Span;
        var size = ItemSize;
        for (var i = 0; i < values.Length; i++)
        {
            var item = data.Slice(i * size, size);
            values[i] = (Kind, size) switch
            {
                ('f', 2) => (float)BinaryPrimitives.ReadHalfLittleEndian(item),
                ('f', 4) => BinaryPrimitives.ReadSingleLittleEndian(item),
                ('f', 8) => (float)BinaryPrimitives.ReadDoubleLittleEndian(item),
                ('i', 1) => (sbyte)item[0],
                ('i', 2) => BinaryPrimitives.ReadInt16LittleEndian(item),
                ('i', 4) => BinaryPrimitives.ReadInt32LittleEndian(item),
                ('i', 8) => BinaryPrimitives.ReadInt64LittleEndian(item),
                ('u', 1) or ('b', 1) => item[0],
                ('u', 2) => BinaryPrimitives.ReadUInt16LittleEndian(item),
                ('u', 4) => BinaryPrimitives.ReadUInt32LittleEndian(item),
                ('u', 8) => BinaryPrimitives.ReadUInt64LittleEndian(item),
                _ => throw new InvalidOperationException($"dtype {Dtype} was accepted by the decoder but cannot be read"),
            };
        }

        return values;
    }
}

/// <summary>A frame the codec refuses: <see cref="Field"/> is where in the message (a key path, or "frame").</summary>
public sealed class MsgpackFrameException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>How much of a frame the decoder accepts. Every bound is checked before anything of that size is read.</summary>
public sealed record MsgpackLimits(int MaxDepth = 8, int MaxMapEntries = 256, int MaxArrayLength = 4096, int MaxStringBytes = 64 * 1024, int MaxRank = 4, long MaxArrayBytes = 64L * 1024 * 1024)
{
    public static MsgpackLimits Default { get; } = new();
}

/// <summary>
/// openpi's wire format (openpi_client/msgpack_numpy.py, see /docs/compatible-protocols.md): msgpack where a numpy array
/// is a map whose keys are msgpack <b>bin</b> values <c>__ndarray__</c> (true), <c>data</c> (bin, C order),
/// <c>dtype</c> (str such as <c>&lt;f4</c>) and <c>shape</c> (array of ints), and a numpy scalar that is no Python type
/// is <c>{__npgeneric__: true, data: value, dtype}</c>. Decoding is strict and bounded: maps have str or bin keys,
/// arrays are bool, integer or float (little endian or single byte) with exactly shape x itemsize bytes, and nothing
/// deeper, longer or larger than <see cref="MsgpackLimits"/> is read.
/// <para>Decoded values: null, bool, long, ulong, double, string, byte[], <see cref="List{T}"/> of values,
/// <see cref="Dictionary{TKey,TValue}"/> of string to value, <see cref="NdArray"/>.</para>
/// </summary>
public static class MsgpackNumpy
{
    private static readonly byte[] NdArrayKey = "__ndarray__"u8.ToArray();
    private static readonly byte[] NpGenericKey = "__npgeneric__"u8.ToArray();

    /// <summary>The top-level map of a frame.</summary>
    public static Dictionary<string, object?> DecodeMap(ReadOnlyMemory<byte> frame, MsgpackLimits? limits = null)
    {
        var reader = new MessagePackReader(frame);
        object? value;
        try
        {
            value = Read(ref reader, limits ?? MsgpackLimits.Default, "frame", 0);
            if (!reader.End)
            {
                throw new MsgpackFrameException("frame", $"{frame.Length - reader.Consumed} bytes follow the message: one frame is one msgpack map");
            }
        }
        catch (MsgpackFrameException)
        {
            throw;
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or InvalidOperationException or OverflowException or ArgumentException)
        {
            throw new MsgpackFrameException("frame", $"is not valid msgpack ({Printable(ex.Message)})");
        }

        return value as Dictionary<string, object?> ?? throw new MsgpackFrameException("frame", $"is a {TypeName(value)}; openpi sends a map (the observation dict)");
    }

    private static object? Read(ref MessagePackReader reader, MsgpackLimits limits, string path, int depth)
    {
        if (depth > limits.MaxDepth)
        {
            throw new MsgpackFrameException(path, $"nests deeper than {limits.MaxDepth} levels");
        }

        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Boolean:
                return reader.ReadBoolean();
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64)
                {
                    return reader.ReadUInt64();
                }

                return reader.ReadInt64();
            case MessagePackType.Float:
                return reader.ReadDouble();
            case MessagePackType.String:
                return ReadString(ref reader, limits, path);
            case MessagePackType.Binary:
                return ReadBinary(ref reader, limits.MaxArrayBytes, path).ToArray();
            case MessagePackType.Array:
            {
                var count = reader.ReadArrayHeader();
                if (count < 0 || count > limits.MaxArrayLength)
                {
                    throw new MsgpackFrameException(path, $"is a list of {count} items; at most {limits.MaxArrayLength} are accepted (send a numpy array)");
                }

                var list = new List<object?>(count);
                for (var i = 0; i < count; i++)
                {
                    list.Add(Read(ref reader, limits, $"{path}[{i}]", depth + 1));
                }

                return list;
            }

            case MessagePackType.Map:
                return ReadMap(ref reader, limits, path, depth);
            default:
                throw new MsgpackFrameException(path, $"is a msgpack {reader.NextMessagePackType}, which openpi never sends");
        }
    }

    private static object? ReadMap(ref MessagePackReader reader, MsgpackLimits limits, string path, int depth)
    {
        var count = reader.ReadMapHeader();
        if (count < 0 || count > limits.MaxMapEntries)
        {
            throw new MsgpackFrameException(path, $"is a map of {count} entries; at most {limits.MaxMapEntries} are accepted");
        }

        var map = new Dictionary<string, object?>(count, StringComparer.Ordinal);
        var binaryKeys = new Dictionary<string, object?>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            string key;
            bool binary;
            switch (reader.NextMessagePackType)
            {
                case MessagePackType.String:
                    key = ReadString(ref reader, limits, path);
                    binary = false;
                    break;
                case MessagePackType.Binary:
                {
                    var bytes = ReadBinary(ref reader, limits.MaxStringBytes, path);
                    key = bytes.IsSingleSegment ? Encoding.UTF8.GetString(bytes.FirstSpan) : Encoding.UTF8.GetString(bytes.ToArray());
                    binary = true;
                    break;
                }

                default:
                    throw new MsgpackFrameException(path, $"has a {reader.NextMessagePackType} key; map keys must be str or bin (msgpack's strict_map_key)");
            }

            var child = path == "frame" ? key : $"{path}/{key}";
            var value = Read(ref reader, limits, child, depth + 1);
            if (!(binary ? binaryKeys : map).TryAdd(key, value) || (binary && map.ContainsKey(key)) || (!binary && binaryKeys.ContainsKey(key)))
            {
                throw new MsgpackFrameException(child, "appears twice in one map");
            }
        }

        if (binaryKeys.ContainsKey("__ndarray__"))
        {
            return Array(binaryKeys, map, limits, path);
        }

        if (binaryKeys.ContainsKey("__npgeneric__"))
        {
            return Generic(binaryKeys, path);
        }

        // Other bin keys are plain dict keys (a Python client with bytes keys); as openpi's unpacker, keep them.
        foreach (var (key, value) in binaryKeys)
        {
            map[key] = value;
        }

        return map;
    }

    private static NdArray Array(Dictionary<string, object?> keys, Dictionary<string, object?> strKeys, MsgpackLimits limits, string path)
    {
        if (strKeys.Count > 0 || keys.Count != 4)
        {
            throw new MsgpackFrameException(path, "an __ndarray__ map must have exactly the bin keys __ndarray__, data, dtype, shape");
        }

        if (keys["__ndarray__"] is not true)
        {
            throw new MsgpackFrameException(path, "__ndarray__ must be true");
        }

        var dtype = keys.GetValueOrDefault("dtype") as string ?? throw new MsgpackFrameException($"{path}/dtype", "is missing or not a str (numpy's dtype.str, such as '<f4')");
        var itemSize = CheckDtype(dtype, $"{path}/dtype");
        if (keys.GetValueOrDefault("shape") is not List<object?> dims)
        {
            throw new MsgpackFrameException($"{path}/shape", "is missing or not a list of ints");
        }

        if (dims.Count > limits.MaxRank)
        {
            throw new MsgpackFrameException($"{path}/shape", $"has {dims.Count} dimensions; at most {limits.MaxRank} are accepted");
        }

        var shape = new int[dims.Count];
        long bytes = itemSize;
        for (var i = 0; i < dims.Count; i++)
        {
            if (dims[i] is not long d || d < 0 || d > int.MaxValue)
            {
                throw new MsgpackFrameException($"{path}/shape[{i}]", $"is {Printable(dims[i]?.ToString() ?? "nil")}; a dimension is an int >= 0");
            }

            shape[i] = (int)d;
            bytes = d == 0 ? 0 : bytes > limits.MaxArrayBytes / d ? limits.MaxArrayBytes + 1 : bytes * d;
        }

        if (bytes > limits.MaxArrayBytes)
        {
            throw new MsgpackFrameException($"{path}/shape", $"[{string.Join(", ", shape)}] of {dtype} is larger than {limits.MaxArrayBytes} bytes");
        }

        if (keys.GetValueOrDefault("data") is not byte[] data)
        {
            throw new MsgpackFrameException($"{path}/data", "is missing or not bin");
        }

        if (data.Length != bytes)
        {
            throw new MsgpackFrameException($"{path}/data", $"has {data.Length} bytes; shape [{string.Join(", ", shape)}] of {dtype} needs {bytes}");
        }

        return new NdArray(dtype, shape, data);
    }

    private static object? Generic(Dictionary<string, object?> keys, string path)
    {
        if (keys.GetValueOrDefault("dtype") is not string dtype)
        {
            throw new MsgpackFrameException($"{path}/dtype", "is missing or not a str");
        }

        CheckDtype(dtype, $"{path}/dtype");
        return keys.GetValueOrDefault("data") switch
        {
            var value when value is bool or long or ulong or double => value,
            var other => throw new MsgpackFrameException($"{path}/data", $"is a {TypeName(other)}; a numpy scalar is a bool, int or float"),
        };
    }

    /// <summary>Item size of a dtype this endpoint reads: bool, integers, floats; little endian or one byte.</summary>
    private static int CheckDtype(string dtype, string path)
    {
        var ok = dtype.Length is >= 3 and <= 4 && dtype[0] is '<' or '|' or '=' && int.TryParse(dtype.AsSpan(2), out var size)
            && (dtype[1], size) switch
            {
                ('b', 1) => true,
                ('i' or 'u', 1 or 2 or 4 or 8) => true,
                ('f', 2 or 4 or 8) => true,
                _ => false,
            }
            && (size == 1 || dtype[0] != '|');
        return ok ? int.Parse(dtype.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture)
            : throw new MsgpackFrameException(path, $"'{Printable(dtype)}' is not accepted: arrays must be bool, int or float, little endian (such as '|u1', '<f4', '<f8')");
    }

    private static string ReadString(ref MessagePackReader reader, MsgpackLimits limits, string path)
    {
        var bytes = reader.ReadStringSequence() ?? throw new MsgpackFrameException(path, "is a nil string");
        if (bytes.Length > limits.MaxStringBytes)
        {
            throw new MsgpackFrameException(path, $"is a str of {bytes.Length} bytes; at most {limits.MaxStringBytes} are accepted");
        }

        try
        {
            return new UTF8Encoding(false, true).GetString(bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            throw new MsgpackFrameException(path, "is a str that is not UTF-8");
        }
    }

    private static ReadOnlySequence<byte> ReadBinary(ref MessagePackReader reader, long max, string path)
    {
        var bytes = reader.ReadBytes() ?? throw new MsgpackFrameException(path, "is a nil bin");
        return bytes.Length > max ? throw new MsgpackFrameException(path, $"is {bytes.Length} bytes of bin; at most {max} are accepted") : bytes;
    }

    private static string TypeName(object? value) => value switch
    {
        null => "nil",
        bool => "bool",
        long or ulong => "int",
        double => "float",
        string => "str",
        byte[] => "bin",
        List<object?> => "list",
        NdArray => "numpy array",
        _ => "map",
    };

    private static string Printable(string text) => A1Fleet.Grains.Printable.Escape(text.Length > 120 ? text[..120] + "..." : text);

    // ---- encoding ----

    /// <summary>Writes a numpy array map exactly as msgpack_numpy does: bin keys in its order, a str dtype.</summary>
    public static void WriteArray(ref MessagePackWriter writer, string dtype, int[] shape, ReadOnlySpan<byte> data)
    {
        writer.WriteMapHeader(4);
        writer.Write(NdArrayKey);
        writer.Write(true);
        writer.Write("data"u8);
        writer.Write(data);
        writer.Write("dtype"u8);
        writer.Write(dtype);
        writer.Write("shape"u8);
        writer.WriteArrayHeader(shape.Length);
        foreach (var d in shape)
        {
            writer.Write(d);
        }
    }

    /// <summary>A float32 (rows, cols) array, C order.</summary>
    public static void WriteFloat32Matrix(ref MessagePackWriter writer, ReadOnlySpan<float> values, int rows, int cols)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        WriteArray(ref writer, "<f4", new[] { rows, cols }, bytes);
    }

    /// <summary>A JSON value as the msgpack a Python dict of it would pack to (numbers: int when integral, else float).</summary>
    public static void WriteJson(ref MessagePackWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteMapHeader(element.EnumerateObject().Count());
                foreach (var property in element.EnumerateObject())
                {
                    writer.Write(property.Name);
                    WriteJson(ref writer, property.Value);
                }

                break;
            case JsonValueKind.Array:
                writer.WriteArrayHeader(element.GetArrayLength());
                foreach (var item in element.EnumerateArray())
                {
                    WriteJson(ref writer, item);
                }

                break;
            case JsonValueKind.String:
                writer.Write(element.GetString());
                break;
            case JsonValueKind.Number when element.TryGetInt64(out var integer):
                writer.Write(integer);
                break;
            case JsonValueKind.Number:
                writer.Write(element.GetDouble());
                break;
            case JsonValueKind.True:
                writer.Write(true);
                break;
            case JsonValueKind.False:
                writer.Write(false);
                break;
            default:
                writer.WriteNil();
                break;
        }
    }

    /// <summary>The metadata frame: the robot's configured JSON object as msgpack (<c>{}</c> = 0x80 by default).</summary>
    public static byte[] Metadata(string json)
    {
        using var document = JsonDocument.Parse(json);
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        WriteJson(ref writer, document.RootElement);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }
}
