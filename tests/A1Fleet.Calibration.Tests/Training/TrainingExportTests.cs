using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using A1Fleet.Datasets.Images;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Parquet;
using A1Fleet.Datasets.Training;

namespace A1Fleet.Calibration.Tests.Training;

public sealed class TrainingExportTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), $"a1-export-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task ExportAsync_RecordedDataset_ArraysHaveTheContractsDtypesAndShapes()
    {
        var summary = await TrainingExport.ExportAsync(TestDatasets.ShippedRecording, _out);
        var dataset = LeRobotDataset.Open(TestDatasets.ShippedRecording);
        var frames = dataset.Episodes.Sum(e => e.Length);

        AssertHeader("state.npy", "<f4", frames, 6);
        AssertHeader("action.npy", "<f4", frames, summary.ActionDim);
        AssertHeader("images.npy", "|u1", frames, 1, summary.ImageHeight, summary.ImageWidth, 3);
        AssertHeader("episode.npy", "<i4", frames);
        AssertHeader("frame.npy", "<i4", frames);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(_out, "meta.json")))!;
        Assert.Equal("a1fleet-training-v1", (string?)meta["format"]);
        Assert.Equal(frames, (int)meta["frames"]!);
        Assert.Equal(dataset.Episodes.Count, (int)meta["episodes"]!);
        Assert.Equal("franka", (string?)meta["embodiment"]);
        Assert.Equal(["front"], meta["cameras"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(dataset.Episodes.Count, meta["episode_instructions"]!.AsArray().Count);
        Assert.Equal(20.0, (double)meta["fps"]!);
    }

    [Fact]
    public async Task ExportAsync_RecordedDataset_ValuesEqualTheLeRobotEpisodes()
    {
        var summary = await TrainingExport.ExportAsync(TestDatasets.ShippedRecording, _out);
        var dataset = LeRobotDataset.Open(TestDatasets.ShippedRecording);
        var state = Data<float>("state.npy");
        var action = Data<float>("action.npy");
        var images = Data<byte>("images.npy");
        var episode = Data<int>("episode.npy");
        var frame = Data<int>("frame.npy");
        int s = summary.StateDim, a = summary.ActionDim, pixels = summary.ImageHeight * summary.ImageWidth * 3;

        var row = 0;
        foreach (var e in dataset.Episodes.OrderBy(e => e.EpisodeIndex))
        {
            var table = await EpisodeTableReader.ReadAsync(dataset.FullPath(dataset.EpisodeDataPath(e.EpisodeIndex)),
                [new(FeatureKeys.State, ColumnKind.Vector), new(FeatureKeys.Action, ColumnKind.Vector), new(FeatureKeys.ImagePrefix + "front", ColumnKind.Image)],
                CancellationToken.None);
            for (var f = 0; f < table.Rows; f++, row++)
            {
                Assert.Equal(table.Vectors[FeatureKeys.State][f], state.AsSpan(row * s, s).ToArray());
                Assert.Equal(table.Vectors[FeatureKeys.Action][f], action.AsSpan(row * a, a).ToArray());
                var png = ImageCodec.DecodeRgb(table.Images[FeatureKeys.ImagePrefix + "front"][f]!.Bytes, summary.ImageHeight, summary.ImageWidth);
                Assert.True(png.Rgb.AsSpan().SequenceEqual(images.AsSpan(row * pixels, pixels)), $"episode {e.EpisodeIndex} frame {f}: image differs");
                Assert.Equal(e.EpisodeIndex, episode[row]);
                Assert.Equal(f, frame[row]);
            }
        }

        Assert.Equal(row, episode.Length);
    }

    [Theory]
    [InlineData(new long[] { 7 }, "(7,)")]
    [InlineData(new long[] { 3, 8 }, "(3, 8)")]
    [InlineData(new long[] { 2, 1, 64, 64, 3 }, "(2, 1, 64, 64, 3)")]
    public void Header_AnyShape_NumpyV1DictPaddedTo64Bytes(long[] shape, string expected)
    {
        var header = NpyWriter.Header("<f4", shape);

        Assert.Equal(0, (10 + header.Length) % 64);
        Assert.Equal((byte)'\n', header[^1]);
        Assert.StartsWith($"{{'descr': '<f4', 'fortran_order': False, 'shape': {expected}, }}", Encoding.ASCII.GetString(header), StringComparison.Ordinal);
    }

    [Fact]
    public void Dispose_FewerValuesThanTheShape_Throws()
    {
        Directory.CreateDirectory(_out);
        var writer = NpyWriter.Float32(Path.Combine(_out, "short.npy"), 2, 3);
        writer.Write([1f, 2f, 3f]);

        var ex = Assert.Throws<InvalidOperationException>(writer.Dispose);
        Assert.Contains("3 values written", ex.Message, StringComparison.Ordinal);
    }

    private void AssertHeader(string name, string descr, params long[] shape)
    {
        var header = Header(name);
        Assert.Equal(descr, header.Descr);
        Assert.Equal(shape, header.Shape);
    }

    /// <summary>Parses a .npy file's header as numpy does: magic, version 1.0, header length, dict.</summary>
    private (string Descr, long[] Shape) Header(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(_out, name));
        Assert.Equal([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0], bytes[..8]);
        var length = BitConverter.ToUInt16(bytes, 8);
        Assert.Equal(0, (10 + length) % 64);
        var dict = Encoding.ASCII.GetString(bytes, 10, length);
        Assert.Contains("'fortran_order': False", dict, StringComparison.Ordinal);
        var descr = dict.Split("'descr': '")[1].Split('\'')[0];
        var shape = dict.Split("'shape': (")[1].Split(')')[0].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var itemSize = descr[1..] switch { "f4" or "i4" => 4, "u1" => 1, _ => throw new InvalidDataException(descr) };
        Assert.Equal(10 + length + (shape.Aggregate(1L, (x, y) => x * y) * itemSize), bytes.LongLength);
        return (descr, shape);
    }

    private T[] Data<T>(string name)
        where T : struct
    {
        var bytes = File.ReadAllBytes(Path.Combine(_out, name));
        var start = 10 + BitConverter.ToUInt16(bytes, 8);
        return MemoryMarshal.Cast<byte, T>(bytes.AsSpan(start)).ToArray();
    }
}
