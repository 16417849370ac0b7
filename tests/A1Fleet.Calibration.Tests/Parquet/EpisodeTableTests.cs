using A1Fleet.Calibration.Tests.LeRobot;
using A1Fleet.Datasets.Parquet;

namespace A1Fleet.Calibration.Tests.Parquet;

public sealed class EpisodeTableTests
{
    [Fact]
    public async Task WriteThenRead_EveryColumnKind_RoundTripsCellByCell()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "episode.parquet");
        var table = new EpisodeTable(3);
        table.Vectors["observation.state"] = [[1f, 2f, 3f], [], null];
        table.Images["observation.images.front"] = [new EncodedImage([1, 2, 3], "a.png"), new EncodedImage([9], null), null];
        table.Reals["timestamp"] = [0f, 0.05f, 0.1f];
        table.Integers["frame_index"] = [0, 1, 2];

        await EpisodeTableWriter.WriteAsync(path, table, CancellationToken.None);
        var read = await EpisodeTableReader.ReadAsync(path,
            [new("observation.state", ColumnKind.Vector), new("observation.images.front", ColumnKind.Image), new("timestamp", ColumnKind.Real), new("frame_index", ColumnKind.Integer)],
            CancellationToken.None);

        Assert.Equal(3, read.Rows);
        Assert.Equal([1f, 2f, 3f], read.Vectors["observation.state"][0]!);
        Assert.Empty(read.Vectors["observation.state"][1]!);
        Assert.Null(read.Vectors["observation.state"][2]);
        Assert.Equal([1, 2, 3], read.Images["observation.images.front"][0]!.Bytes);
        Assert.Equal("a.png", read.Images["observation.images.front"][0]!.Path);
        Assert.Null(read.Images["observation.images.front"][2]);
        Assert.Equal([0f, 0.05f, 0.1f], read.Reals["timestamp"].Select(v => v!.Value));
        Assert.Equal([0L, 1L, 2L], read.Integers["frame_index"].Select(v => v!.Value));
    }

    [Fact]
    public async Task Read_MissingRequiredColumn_NamesColumnAndListsOthers()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "episode.parquet");
        var table = new EpisodeTable(1);
        table.Reals["timestamp"] = [0f];
        await EpisodeTableWriter.WriteAsync(path, table, CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() =>
            EpisodeTableReader.ReadAsync(path, [new("observation.state", ColumnKind.Vector)], CancellationToken.None));

        Assert.Contains("'observation.state' is missing", error.Message, StringComparison.Ordinal);
        Assert.Contains("timestamp", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_OptionalColumnMissing_LeavesItOut()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "episode.parquet");
        var table = new EpisodeTable(1);
        table.Reals["timestamp"] = [0f];
        await EpisodeTableWriter.WriteAsync(path, table, CancellationToken.None);

        var read = await EpisodeTableReader.ReadAsync(path, [new("task_index", ColumnKind.Integer, Required: false)], CancellationToken.None);

        Assert.False(read.Integers.ContainsKey("task_index"));
    }

    [Fact]
    public async Task Read_NotAParquetFile_ThrowsInvalidData()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "episode.parquet");
        await File.WriteAllTextAsync(path, "this is not parquet");

        await Assert.ThrowsAsync<InvalidDataException>(() => EpisodeTableReader.ReadAsync(path, [new("timestamp", ColumnKind.Real)], CancellationToken.None));
    }
}
