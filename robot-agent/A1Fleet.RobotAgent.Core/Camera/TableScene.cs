namespace A1Fleet.RobotAgent.Camera;

/// <summary>
/// The simulated workspace: a table with a few coloured blocks at seeded places, in table coordinates
/// (0..1 across, 0..1 from the far edge to the robot). Painted once per image size; cameras copy it.
/// </summary>
internal sealed class TableScene
{
    /// <summary>The block colours, indexed by <see cref="BlockColour"/>.</summary>
    private static readonly Rgb[] BlockColours = [new(200, 40, 40), new(40, 160, 60), new(40, 80, 200), new(230, 200, 40), new(160, 60, 180)];
    private static readonly Rgb Wall = new(70, 75, 85);
    private readonly (float X, float Y, float Size, Rgb Colour)[] _blocks;
    private readonly int _seed;

    /// <param name="withBlocks">
    /// False for a bare table: a task world (<see cref="Tasks.TabletopWorld"/>) draws its own objects on each frame, where they are.
    /// </param>
    public TableScene(int seed, bool withBlocks = true)
    {
        _seed = seed;
        var random = new Random(seed);
        _blocks = new (float, float, float, Rgb)[withBlocks ? 4 : 0];
        for (var i = 0; i < _blocks.Length; i++)
        {
            _blocks[i] = (0.15f + (0.7f * (float)random.NextDouble()), 0.25f + (0.45f * (float)random.NextDouble()),
                0.07f + (0.05f * (float)random.NextDouble()), BlockColours[(i + seed) % BlockColours.Length]);
        }
    }

    public static Rgb ColourOf(BlockColour colour) => BlockColours[(int)colour];

    /// <summary>The table seen from the front camera: a wall band at the top, wood grain, blocks.</summary>
    public byte[] Paint(int height, int width)
    {
        var image = new byte[height * width * 3];
        var random = new Random(_seed ^ 0x5eed);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 3;
                var grain = (byte)random.Next(0, 12);
                var stripe = (x * 7 / Math.Max(1, width)) % 2 == 0 ? 0 : 8;
                image[i] = (byte)(150 + grain + stripe);
                image[i + 1] = (byte)(112 + grain + stripe);
                image[i + 2] = (byte)(72 + grain);
            }
        }

        Raster.FillRect(image, height, width, 0, 0, width, Math.Max(1, height / 8), Wall);
        foreach (var (bx, by, size, colour) in _blocks)
        {
            var side = Math.Max(2, (int)(size * width));
            Raster.FillSquare(image, height, width, (int)(bx * width), (int)(by * height), side, colour);
        }

        return image;
    }
}

/// <summary>The colours blocks on the simulated table come in; a task's instruction names them in lower case.</summary>
public enum BlockColour
{
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
}
