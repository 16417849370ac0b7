namespace A1Fleet.ModelBuilder.Samples;

/// <summary>An RGB colour with components in [0, 1].</summary>
public readonly record struct Rgb(double R, double G, double B)
{
    public Rgb Scale(double factor) => new(R * factor, G * factor, B * factor);
}

/// <summary>A coloured square block; position and half-size in scene units ([0,1] across the front view).</summary>
public sealed record SceneBlock(string ColourName, Rgb Colour, double X, double Y, double HalfSize);

/// <summary>
/// Rasterises a flat table-top scene (wall, table, blocks) into RGB8 HWC bytes. A camera is a window
/// onto the scene: the front camera sees [0,1]^2; the wrist camera sees a zoomed window around the
/// gripper, with the gripper's fingers drawn at the bottom.
/// </summary>
public static class SceneRenderer
{
    private const double HorizonY = 0.35;
    private static readonly Rgb Finger = new(0.25, 0.25, 0.28);

    public sealed record View(double CentreX, double CentreY, double Zoom, double? GripperOpening);

    public static View Front { get; } = new(0.5, 0.5, 1.0, null);

    public static byte[] Render(int size, Rgb wall, Rgb table, IReadOnlyList<SceneBlock> blocks, View view, Func<double> noise)
    {
        var pixels = new byte[size * size * 3];
        for (int py = 0; py < size; py++)
        {
            for (int px = 0; px < size; px++)
            {
                double u = (px + 0.5) / size;
                double v = (py + 0.5) / size;
                double x = view.CentreX + ((u - 0.5) / view.Zoom);
                double y = view.CentreY + ((v - 0.5) / view.Zoom);
                Rgb colour = ColourAt(x, y, wall, table, blocks);
                if (view.GripperOpening is double opening && IsFinger(u, v, opening))
                {
                    colour = Finger;
                }

                int offset = ((py * size) + px) * 3;
                double grain = noise();
                pixels[offset] = ToByte(colour.R + grain);
                pixels[offset + 1] = ToByte(colour.G + grain);
                pixels[offset + 2] = ToByte(colour.B + grain);
            }
        }

        return pixels;
    }

    private static Rgb ColourAt(double x, double y, Rgb wall, Rgb table, IReadOnlyList<SceneBlock> blocks)
    {
        // Later blocks are drawn over earlier ones, so search from the top of the stack.
        for (int i = blocks.Count - 1; i >= 0; i--)
        {
            var block = blocks[i];
            double dx = Math.Abs(x - block.X) / block.HalfSize;
            double dy = Math.Abs(y - block.Y) / block.HalfSize;
            if (dx <= 1 && dy <= 1)
            {
                // Darker towards the edges, so blocks have some structure for the patch embedding.
                return block.Colour.Scale(1.0 - (0.25 * Math.Max(dx, dy)));
            }
        }

        // Perspective-ish shading: the table darkens towards the camera, the wall towards the top.
        return y < HorizonY ? wall.Scale(0.8 + (0.2 * y / HorizonY)) : table.Scale(1.0 - (0.2 * (y - HorizonY)));
    }

    /// <summary>Two finger bars in the lower part of the wrist image, further apart when the gripper is open (opening in [0,1]).</summary>
    private static bool IsFinger(double u, double v, double opening)
    {
        if (v < 0.72)
        {
            return false;
        }

        double gap = 0.08 + (0.22 * opening);
        double distance = Math.Abs(u - 0.5);
        return distance >= gap && distance <= gap + 0.08;
    }

    private static byte ToByte(double value) => (byte)Math.Clamp(Math.Round(value * 255.0), 0, 255);
}
