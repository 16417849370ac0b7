using A1Fleet.RobotAgent.Camera;

namespace A1Fleet.RobotAgent.Tests.Camera;

public sealed class RasterTests
{
    [Theory]
    [InlineData(-20, 2, -10, 6)]
    [InlineData(70, 2, 80, 6)]
    [InlineData(2, -9, 6, -1)]
    [InlineData(2, 64, 6, 70)]
    [InlineData(10, 10, 5, 20)]
    public void FillRect_OutsideTheImage_DrawsNothing(int x0, int y0, int x1, int y1)
    {
        var image = new byte[64 * 64 * 3];
        Raster.FillRect(image, 64, 64, x0, y0, x1, y1, new Rgb(255, 0, 0));
        Assert.All(image, b => Assert.Equal(0, b));
    }

    [Fact]
    public void FillRect_PartlyOutside_ClipsToTheImage()
    {
        var image = new byte[8 * 8 * 3];
        Raster.FillRect(image, 8, 8, -3, -3, 2, 2, new Rgb(9, 8, 7));
        Assert.Equal(4 * 3, image.Count(b => b != 0) / 1);
        Assert.Equal(9, image[0]);
        Assert.Equal(0, image[((2 * 8) + 2) * 3]);
    }
}
