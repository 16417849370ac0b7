using A1Fleet.Datasets.Images;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace A1Fleet.Calibration.Tests.Images;

public sealed class ImageCodecTests
{
    [Fact]
    public void EncodePngThenDecode_SameSize_IsLossless()
    {
        var rgb = Pattern(8, 12);

        var decoded = ImageCodec.DecodeRgb(ImageCodec.EncodePng(rgb, 8, 12), 8, 12);

        Assert.Equal(rgb, decoded.Rgb);
        Assert.False(decoded.WasResized);
    }

    [Fact]
    public void DecodeRgb_LargerImage_ResizesToCameraAndReportsSourceSize()
    {
        var png = ImageCodec.EncodePng(Pattern(32, 32), 32, 32);

        var decoded = ImageCodec.DecodeRgb(png, 16, 16);

        Assert.True(decoded.WasResized);
        Assert.Equal((32, 32), (decoded.SourceHeight, decoded.SourceWidth));
        Assert.Equal(16 * 16 * 3, decoded.Rgb.Length);
    }

    [Fact]
    public void ResizeRgb_RawFrame_MatchesDecodingItsPngAtTheCameraSize()
    {
        var rgb = Pattern(30, 40);

        var resized = ImageCodec.ResizeRgb(rgb, 30, 40, 16, 12);

        Assert.Equal(ImageCodec.DecodeRgb(ImageCodec.EncodePng(rgb, 30, 40), 16, 12).Rgb, resized);
        Assert.Same(rgb, ImageCodec.ResizeRgb(rgb, 30, 40, 30, 40));
        Assert.Throws<ArgumentException>(() => ImageCodec.ResizeRgb(rgb, 30, 41, 16, 12));
    }

    [Fact]
    public void DecodeRgb_Jpeg_DecodesToRgb()
    {
        using var image = Image.LoadPixelData<Rgb24>(Pattern(16, 16), 16, 16);
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream);

        var decoded = ImageCodec.DecodeRgb(stream.ToArray(), 16, 16);

        Assert.Equal(16 * 16 * 3, decoded.Rgb.Length);
        Assert.False(decoded.WasResized);
    }

    [Fact]
    public void DecodeRgb_GarbageBytes_ThrowsInvalidData()
    {
        var error = Assert.Throws<InvalidDataException>(() => ImageCodec.DecodeRgb([0x89, 0x50, 0x4E, 0x47, 1, 2, 3], 16, 16));

        Assert.Contains("does not decode", error.Message, StringComparison.Ordinal);
    }

    internal static byte[] Pattern(int height, int width)
    {
        var rgb = new byte[height * width * 3];
        for (var i = 0; i < rgb.Length; i++)
        {
            rgb[i] = (byte)((i * 37) % 251);
        }

        return rgb;
    }
}
