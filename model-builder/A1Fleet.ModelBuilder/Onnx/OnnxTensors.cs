using System.Runtime.InteropServices;
using A1Fleet.ModelBuilder.Onnx.Proto;
using Google.Protobuf;

namespace A1Fleet.ModelBuilder.Onnx;

/// <summary>TensorProto constructors. Element data always goes into raw_data, little-endian, as ONNX specifies.</summary>
public static class OnnxTensors
{
    public static TensorProto Float(string name, ReadOnlySpan<float> data, IEnumerable<long> dims) =>
        Create(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(data), sizeof(float), dims);

    public static TensorProto Int64(string name, ReadOnlySpan<long> data, IEnumerable<long> dims) =>
        Create(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(data), sizeof(long), dims);

    private static TensorProto Create(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> nativeBytes, int elementSize, IEnumerable<long> dims)
    {
        byte[] bytes = nativeBytes.ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            for (int offset = 0; offset < bytes.Length; offset += elementSize)
            {
                Array.Reverse(bytes, offset, elementSize);
            }
        }

        var tensor = new TensorProto
        {
            Name = name,
            DataType = (int)type,
            // The array is private to this call, so wrapping it without a copy is safe.
            RawData = UnsafeByteOperations.UnsafeWrap(bytes),
        };
        tensor.Dims.Add(dims);
        return tensor;
    }
}
