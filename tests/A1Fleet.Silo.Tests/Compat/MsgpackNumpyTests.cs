using System.Buffers;
using A1Fleet.Silo.Compat;
using MessagePack;

namespace A1Fleet.Silo.Tests.Compat;

public sealed class MsgpackNumpyTests
{
    private delegate void Writes(ref MessagePackWriter writer);

    private static byte[] Write(Writes write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Emit(buffer, write);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One writer per piece, flushed before the next starts (MessagePackWriter is a struct over the buffer).</summary>
    private static void Emit(IBufferWriter<byte> buffer, Writes write)
    {
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
    }

    private static byte[] Map(params (string Key, Writes Value)[] entries)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Emit(buffer, (ref MessagePackWriter w) => w.WriteMapHeader(entries.Length));
        foreach (var (key, value) in entries)
        {
            Emit(buffer, (ref MessagePackWriter w) => w.Write(key));
            Emit(buffer, value);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static Writes Array(string dtype, int[] shape, byte[] data) => (ref MessagePackWriter w) => MsgpackNumpy.WriteArray(ref w, dtype, shape, data);

    [Fact]
    public void WriteArray_Float32Vector_IsByteForByteWhatMsgpackNumpyPacks()
    {
        // np.array([1, 2], np.float32) as msgpack_numpy packs it (docs/compatible-protocols.md): bin keys, str dtype.
        var expected = Convert.FromHexString(
            "84" + "C40B" + Hex("__ndarray__") + "C3" + "C404" + Hex("data") + "C408" + "0000803F00000040" +
            "C405" + Hex("dtype") + "A3" + Hex("<f4") + "C405" + Hex("shape") + "9102");

        var bytes = Write((ref MessagePackWriter w) => MsgpackNumpy.WriteArray(ref w, "<f4", [2], [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]));

        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void DecodeMap_ArraysOfEveryAcceptedDtype_RoundTripWithShapeAndValues()
    {
        var frame = Map(
            ("f8", Array("<f8", [2], [.. BitConverter.GetBytes(1.5), .. BitConverter.GetBytes(-2.0)])),
            ("u1", Array("|u1", [2, 1, 3], [1, 2, 3, 4, 5, 6])),
            ("i8", Array("<i8", [1], BitConverter.GetBytes(-7L))),
            ("b1", Array("|b1", [2], [1, 0])),
            ("prompt", (ref MessagePackWriter w) => w.Write("pick")));

        var map = MsgpackNumpy.DecodeMap(frame);

        Assert.Equal([1.5f, -2f], ((NdArray)map["f8"]!).ToFloats());
        Assert.Equal([2, 1, 3], ((NdArray)map["u1"]!).Shape);
        Assert.Equal([-7f], ((NdArray)map["i8"]!).ToFloats());
        Assert.Equal([1f, 0f], ((NdArray)map["b1"]!).ToFloats());
        Assert.Equal("pick", map["prompt"]);
    }

    [Fact]
    public void DecodeMap_ArrayMapWithStrKeys_StaysAPlainDictionary()
    {
        var frame = Map(("image", (ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(1);
            w.Write("__ndarray__");
            w.Write(true);
        }));

        Assert.IsType<Dictionary<string, object?>>(MsgpackNumpy.DecodeMap(frame)["image"]);
    }

    public static TheoryData<string, byte[]> BadFrames() => new()
    {
        { "x/shape", Map(("x", Array("|u1", [100000, 100000, 3], [1]))) },
        { "x/data", Map(("x", Array("<f4", [3], new byte[11]))) },
        { "x/dtype", Map(("x", Array("<U2", [1], new byte[8]))) },
        { "x/dtype", Map(("x", Array(">f4", [1], new byte[4]))) },
        { "x/dtype", Map(("x", Array("|O", [1], new byte[8]))) },
        { "frame", Write((ref MessagePackWriter w) => { w.WriteArrayHeader(1); w.Write(1); }) },
        { "frame", Write((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write(1); w.Write(2); }) },
        { "frame", [.. Map(("a", (ref MessagePackWriter w) => w.Write(1))), 0] },
        { "frame", Convert.FromHexString("DFFFFFFFFF") },
        { "frame", Convert.FromHexString("82A161") },
        { "a/a/a/a/a/a/a/a", Nested(12) },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public void DecodeMap_BadFrame_RefusedNamingWhere(string field, byte[] frame)
    {
        var error = Assert.Throws<MsgpackFrameException>(() => MsgpackNumpy.DecodeMap(frame));

        Assert.StartsWith(field, error.Field);
    }

    [Fact]
    public void Metadata_EmptyObject_IsTheOneByteMapOpenPiSendsByDefault()
    {
        Assert.Equal([0x80], MsgpackNumpy.Metadata("{}"));
        var decoded = MsgpackNumpy.DecodeMap(MsgpackNumpy.Metadata("""{"reset_pose":[0,-1.5],"name":"a"}"""));
        Assert.Equal([0L, -1.5], ((List<object?>)decoded["reset_pose"]!).ToArray());
    }

    private static byte[] Nested(int depth) => Write((ref MessagePackWriter w) =>
    {
        for (var i = 0; i < depth; i++)
        {
            w.WriteMapHeader(1);
            w.Write("a");
        }

        w.WriteMapHeader(0);
    });

    private static string Hex(string text) => Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(text));
}
