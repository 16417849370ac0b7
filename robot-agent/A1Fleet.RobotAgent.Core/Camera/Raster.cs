namespace A1Fleet.RobotAgent.Camera;

/// <summary>The only drawing the simulated cameras need: axis-aligned filled rectangles on RGB8 HWC images.</summary>
internal static class Raster
{
    public static void FillRect(Span<byte> image, int height, int width, int x0, int y0, int x1, int y1, Rgb colour)
    {
        x0 = Math.Max(0, x0);
        y0 = Math.Max(0, y0);
        x1 = Math.Min(width, x1);
        y1 = Math.Min(height, y1);
        if (x1 <= x0 || y1 <= y0)
        {
            // Entirely off the image (an arm swung out of view): nothing to draw.
            return;
        }

        for (var y = y0; y < y1; y++)
        {
            var row = image.Slice(((y * width) + x0) * 3, (x1 - x0) * 3);
            for (var i = 0; i < row.Length; i += 3)
            {
                row[i] = colour.R;
                row[i + 1] = colour.G;
                row[i + 2] = colour.B;
            }
        }
    }

    /// <summary>A square of side <paramref name="size"/> centred on (cx, cy).</summary>
    public static void FillSquare(Span<byte> image, int height, int width, int cx, int cy, int size, Rgb colour)
    {
        var half = size / 2;
        FillRect(image, height, width, cx - half, cy - half, cx - half + size, cy - half + size, colour);
    }
}

internal readonly record struct Rgb(byte R, byte G, byte B);
