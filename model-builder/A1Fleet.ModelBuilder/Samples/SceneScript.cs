using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Samples;

/// <summary>One episode's scene: wall and table colours and blocks that glide from a start to an end position.</summary>
internal sealed class SceneScript
{
    private readonly List<(SceneBlock Start, double EndX, double EndY)> motions;

    private SceneScript(Rgb wall, Rgb table, List<(SceneBlock Start, double EndX, double EndY)> motions)
    {
        Wall = wall;
        Table = table;
        this.motions = motions;
        Blocks = motions.Select(m => m.Start).ToList();
    }

    public Rgb Wall { get; }
    public Rgb Table { get; }
    /// <summary>The blocks at the episode start; block 0 is the instruction's target.</summary>
    public IReadOnlyList<SceneBlock> Blocks { get; }

    public static SceneScript Draw(Xoshiro256StarStar random, IReadOnlyList<(string Name, Rgb Colour)> palette)
    {
        var wall = MutedColour(random, 0.55, 0.8);
        var table = MutedColour(random, 0.3, 0.55);
        int count = 1 + random.NextInt(3);
        var colours = Enumerable.Range(0, palette.Count).OrderBy(_ => random.NextUInt64()).Take(count).ToList();
        var motions = new List<(SceneBlock, double, double)>();
        foreach (int colour in colours)
        {
            var block = new SceneBlock(palette[colour].Name, palette[colour].Colour,
                random.NextDouble(0.2, 0.8), random.NextDouble(0.45, 0.85), random.NextDouble(0.06, 0.11));
            motions.Add((block, random.NextDouble(0.2, 0.8), random.NextDouble(0.45, 0.85)));
        }

        return new SceneScript(wall, table, motions);
    }

    /// <summary>Blocks at <paramref name="progress"/> in [0,1], eased so they start and stop gently.</summary>
    public List<SceneBlock> At(double progress)
    {
        double eased = progress * progress * (3 - (2 * progress));
        return motions
            .Select(m => m.Start with
            {
                X = m.Start.X + ((m.EndX - m.Start.X) * eased),
                Y = m.Start.Y + ((m.EndY - m.Start.Y) * eased),
            })
            .ToList();
    }

    private static Rgb MutedColour(Xoshiro256StarStar random, double low, double high) =>
        new(random.NextDouble(low, high), random.NextDouble(low, high), random.NextDouble(low, high));
}
