using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Randomness;
using A1Fleet.ModelFormat;

namespace A1Fleet.ModelBuilder.Samples;

/// <summary>
/// Synthetic observations for a model package (calibration and demos): per episode a table-top scene
/// with 1-3 coloured blocks sliding smoothly, a fixed instruction, and a smooth joint trajectory
/// inside q01..q99; each frame's recorded actions are the next H states. Deterministic from the seed
/// (stream "samples/episode-E" per episode).
/// </summary>
public static class SampleDataGenerator
{
    private static readonly (string Name, Rgb Colour)[] Palette =
    [
        ("red", new(0.85, 0.15, 0.15)),
        ("green", new(0.15, 0.7, 0.2)),
        ("blue", new(0.15, 0.3, 0.85)),
        ("yellow", new(0.9, 0.85, 0.15)),
        ("orange", new(0.95, 0.55, 0.1)),
        ("purple", new(0.55, 0.2, 0.7)),
        ("white", new(0.95, 0.95, 0.95)),
        ("black", new(0.08, 0.08, 0.08)),
    ];

    private const double WristZoom = 2.5;
    private const double PixelNoise = 0.015;

    public static List<ObservationSample> Generate(ReferenceModelConfig config)
    {
        config.Validate();
        var samples = new List<ObservationSample>(config.SampleEpisodes * config.SampleFramesPerEpisode);
        for (int episode = 0; episode < config.SampleEpisodes; episode++)
        {
            samples.AddRange(Episode(config, episode));
        }

        return samples;
    }

    private static IEnumerable<ObservationSample> Episode(ReferenceModelConfig config, int episode)
    {
        var random = Xoshiro256StarStar.ForStream(config.Seed, $"samples/episode-{episode}");
        var scene = SceneScript.Draw(random, Palette);
        var trajectory = JointTrajectory.Draw(random, config.StateQ01, config.StateQ99);
        string other = Palette[random.NextInt(Palette.Length)].Name;
        string instruction = InstructionTemplates.Pick(random, scene.Blocks[0].ColourName, other, scene.Blocks.Count > 1);

        int frames = config.SampleFramesPerEpisode;
        for (int frame = 0; frame < frames; frame++)
        {
            double progress = frames > 1 ? (double)frame / (frames - 1) : 0.0;
            var blocks = scene.At(progress);
            float[] state = trajectory.At(frame);
            var images = new List<byte[]>(config.Cameras.Count);
            for (int camera = 0; camera < config.Cameras.Count; camera++)
            {
                var view = camera == 0 ? SceneRenderer.Front : WristView(blocks[0], progress, trajectory.GripperOpening(frame));
                images.Add(SceneRenderer.Render(config.ImageSize, scene.Wall, scene.Table, blocks, view,
                    () => PixelNoise * random.NextGaussian()));
            }

            var actions = new float[config.Chunk * config.StateDim];
            for (int step = 0; step < config.Chunk; step++)
            {
                trajectory.At(frame + 1 + step).CopyTo(actions, step * config.StateDim);
            }

            yield return new ObservationSample
            {
                Instruction = instruction,
                State = state,
                Images = images,
                Actions = actions,
                Episode = episode,
            };
        }
    }

    /// <summary>Cameras after the first are wrist views: zoomed on a point that moves from above the table to the target block.</summary>
    private static SceneRenderer.View WristView(SceneBlock target, double progress, double gripperOpening)
    {
        double x = 0.5 + ((target.X - 0.5) * progress);
        double y = 0.3 + ((target.Y - 0.3) * progress);
        return new SceneRenderer.View(x, y, WristZoom, gripperOpening);
    }
}
