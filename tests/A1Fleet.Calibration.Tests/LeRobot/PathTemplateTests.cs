using A1Fleet.Datasets.LeRobot;

namespace A1Fleet.Calibration.Tests.LeRobot;

public sealed class PathTemplateTests
{
    [Fact]
    public void Format_LeRobotDataPath_ZeroPadsChunkAndEpisode()
    {
        var path = PathTemplate.Format(LeRobotInfo.DefaultDataPath, new Dictionary<string, object> { ["episode_chunk"] = 2, ["episode_index"] = 2041 });

        Assert.Equal("data/chunk-002/episode_002041.parquet", path);
    }

    [Fact]
    public void Format_VideoPath_InsertsVideoKeyAsIs()
    {
        var path = PathTemplate.Format(LeRobotInfo.DefaultVideoPath,
            new Dictionary<string, object> { ["episode_chunk"] = 0, ["episode_index"] = 7, ["video_key"] = "observation.images.top" });

        Assert.Equal("videos/chunk-000/observation.images.top/episode_000007.mp4", path);
    }

    [Fact]
    public void Format_UnknownPlaceholder_ThrowsNamingIt()
    {
        var error = Assert.Throws<FormatException>(() => PathTemplate.Format("data/{shard:03d}.parquet", new Dictionary<string, object> { ["episode_index"] = 1 }));

        Assert.Contains("{shard}", error.Message, StringComparison.Ordinal);
    }
}
