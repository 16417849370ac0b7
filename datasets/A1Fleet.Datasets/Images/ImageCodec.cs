using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace A1Fleet.Datasets.Images;

/// <summary>A decoded RGB8 image (row-major HWC), the layout ObservationSample and the engine take.</summary>
public sealed record DecodedImage(byte[] Rgb, int Height, int Width, int SourceHeight, int SourceWidth)
{
    public bool WasResized => Height != SourceHeight || Width != SourceWidth;
}

/// <summary>
/// PNG/JPEG (any format ImageSharp reads) to RGB8 and back. Images whose size differs from the
/// model camera are resized with ImageSharp's default bicubic resampler, without keeping the aspect
/// ratio (the model's vision encoder expects exactly its camera size); callers count and report it.
/// </summary>
public static class ImageCodec
{
    /// <exception cref="InvalidDataException">The bytes are not a decodable image.</exception>
    public static DecodedImage DecodeRgb(ReadOnlySpan<byte> encoded, int height, int width)
    {
        Image<Rgb24> image;
        try
        {
            image = Image.Load<Rgb24>(encoded);
        }
        catch (Exception ex) when (ex is ImageFormatException or UnknownImageFormatException or InvalidImageContentException or NotSupportedException)
        {
            throw new InvalidDataException($"image does not decode ({encoded.Length} bytes): {ex.Message}", ex);
        }

        using (image)
        {
            var sourceHeight = image.Height;
            var sourceWidth = image.Width;
            if (sourceHeight != height || sourceWidth != width)
            {
                image.Mutate(context => context.Resize(width, height));
            }

            var rgb = new byte[height * width * 3];
            image.CopyPixelDataTo(rgb);
            return new DecodedImage(rgb, height, width, sourceHeight, sourceWidth);
        }
    }

    /// <summary>
    /// An RGB8 HWC buffer resized to <paramref name="height"/> x <paramref name="width"/> with the same resampler as
    /// <see cref="DecodeRgb"/> (the buffer itself when it already has that size): raw camera frames of any size reach
    /// the model at its camera size, as decoded files do.
    /// </summary>
    public static byte[] ResizeRgb(byte[] rgb, int sourceHeight, int sourceWidth, int height, int width)
    {
        if (rgb.Length != sourceHeight * sourceWidth * 3)
        {
            throw new ArgumentException($"RGB buffer holds {rgb.Length} bytes; {sourceHeight}x{sourceWidth}x3 needs {sourceHeight * sourceWidth * 3}", nameof(rgb));
        }

        if (sourceHeight == height && sourceWidth == width)
        {
            return rgb;
        }

        using var image = Image.LoadPixelData<Rgb24>(rgb, sourceWidth, sourceHeight);
        image.Mutate(context => context.Resize(width, height));
        var resized = new byte[height * width * 3];
        image.CopyPixelDataTo(resized);
        return resized;
    }

    /// <summary>Lossless PNG of an RGB8 HWC buffer: what the writer stores, so a round trip is exact.</summary>
    public static byte[] EncodePng(ReadOnlySpan<byte> rgb, int height, int width)
    {
        if (rgb.Length != height * width * 3)
        {
            throw new ArgumentException($"RGB buffer holds {rgb.Length} bytes; {height}x{width}x3 needs {height * width * 3}", nameof(rgb));
        }

        using var image = Image.LoadPixelData<Rgb24>(rgb, width, height);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, new PngEncoder { ColorType = PngColorType.Rgb, CompressionLevel = PngCompressionLevel.BestCompression });
        return stream.ToArray();
    }
}
