using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Camera;

/// <summary>
/// Renders the model's cameras (names and sizes from <see cref="ModelSpec.Cameras"/>) as RGB8 HWC images
/// of a simulated table, from the arm's joints. A camera whose name contains "wrist" looks down from a
/// gripper (the right arm's when the name also contains "right"); any other camera is the front view of
/// the whole table with every arm's gripper drawn where <see cref="ArmSketch"/> puts it.
/// Built to be cheap at 20-30 Hz for dozens of arms on two cores: backgrounds are painted once, a frame
/// is a block copy plus a few rectangles.
/// </summary>
public sealed class SimulatedCamera
{
    private static readonly Rgb Link = new(60, 60, 60);
    private static readonly Rgb Finger = new(30, 30, 30);
    private static readonly Rgb[] ArmColours = [new(240, 240, 240), new(250, 150, 30)];

    private readonly EmbodimentProfile _profile;
    private readonly View[] _views;
    private ITableObjects? _objects;

    /// <param name="withBlocks">
    /// True: a few blocks painted into the table at seeded places (the fleet's arms, which have no task world). False: a
    /// bare table, for a task world that passes its objects to <see cref="Render(ReadOnlySpan{float}, byte[][], ReadOnlySpan{TableBlock})"/>.
    /// </param>
    public SimulatedCamera(EmbodimentProfile profile, IReadOnlyList<CameraInfo> cameras, int seed, bool withBlocks = true)
    {
        _profile = profile;
        Cameras = cameras;
        _views = new View[cameras.Count];
        foreach (var c in cameras)
        {
            if (c.Height <= 0 || c.Width <= 0)
            {
                throw new ArgumentException($"camera '{c.Name}' has size {c.Height}x{c.Width}; both must be positive");
            }
        }

        Paint(new TableScene(seed, withBlocks));
    }

    public IReadOnlyList<CameraInfo> Cameras { get; }

    /// <summary>
    /// From now on, a bare table painted from <paramref name="seed"/> (as <c>withBlocks: false</c> paints it) with
    /// <paramref name="objects"/>' blocks drawn where they are on every frame: a task world's new episode. Call it
    /// from the thread that captures (the control loop's tick).
    /// </summary>
    public void ShowScene(int seed, ITableObjects objects)
    {
        Paint(new TableScene(seed, withBlocks: false));
        _objects = objects;
    }

    /// <summary>
    /// Fresh images for an observation. Observations are immutable on the wire and may be passed by
    /// reference inside one process, so each one gets its own arrays (once per request, not per tick).
    /// </summary>
    public byte[][] Capture(ReadOnlySpan<float> joints)
    {
        var images = new byte[_views.Length][];
        for (var i = 0; i < _views.Length; i++)
        {
            images[i] = new byte[_views[i].Height * _views[i].Width * 3];
        }

        Render(joints, images);
        return images;
    }

    /// <summary>Renders every camera into caller-owned buffers of the cameras' sizes (with the blocks of the scene shown, if any).</summary>
    public void Render(ReadOnlySpan<float> joints, byte[][] images) => Render(joints, images, _objects is { } objects ? objects.Blocks : []);

    /// <summary>
    /// Renders every camera with <paramref name="blocks"/> on the table (under the arms), for worlds whose objects move.
    /// </summary>
    public void Render(ReadOnlySpan<float> joints, byte[][] images, ReadOnlySpan<TableBlock> blocks)
    {
        if (joints.Length != _profile.JointCount)
        {
            throw new ArgumentException($"{_profile.Embodiment} has {_profile.JointCount} joints, got {joints.Length}", nameof(joints));
        }

        for (var i = 0; i < _views.Length; i++)
        {
            var view = _views[i];
            if (images[i].Length != view.Height * view.Width * 3)
            {
                throw new ArgumentException($"camera '{Cameras[i].Name}' needs {view.Height * view.Width * 3} bytes, got {images[i].Length}", nameof(images));
            }

            if (view.Wrist)
            {
                RenderWrist(view, joints, images[i], blocks);
            }
            else
            {
                RenderFront(view, joints, images[i], blocks);
            }
        }
    }

    private void RenderFront(View view, ReadOnlySpan<float> joints, Span<byte> image, ReadOnlySpan<TableBlock> blocks)
    {
        view.Texture.CopyTo(image);
        int h = view.Height, w = view.Width;
        foreach (var block in blocks)
        {
            Raster.FillRect(image, h, w, (int)MathF.Round((block.X - (block.Size / 2)) * w), (int)MathF.Round((block.Y - (block.Size / 2)) * h),
                (int)MathF.Round((block.X + (block.Size / 2)) * w), (int)MathF.Round((block.Y + (block.Size / 2)) * h), TableScene.ColourOf(block.Colour));
        }

        var link = Math.Max(1, w / 32);
        var tip = Math.Max(3, w / 10);
        for (var a = 0; a < _profile.Arms.Count; a++)
        {
            var arm = _profile.Arms[a];
            var (x, y, opening) = ArmSketch.Tip(_profile, arm, joints);

            // The arm as a dotted line from its base to the gripper, then the gripper and its two fingers.
            const int Dots = 6;
            for (var d = 0; d < Dots; d++)
            {
                var t = d / (float)Dots;
                Raster.FillSquare(image, h, w, (int)((arm.BaseX + ((x - arm.BaseX) * t)) * w), (int)((arm.BaseY + ((y - arm.BaseY) * t)) * h), link * 2, Link);
            }

            int cx = (int)(x * w), cy = (int)(y * h);
            Raster.FillSquare(image, h, w, cx, cy, tip, ArmColours[a % ArmColours.Length]);
            var gap = (int)(opening * tip);
            Raster.FillRect(image, h, w, cx - (gap / 2) - link, cy - tip, cx - (gap / 2), cy - (tip / 2), Finger);
            Raster.FillRect(image, h, w, cx + (gap / 2), cy - tip, cx + (gap / 2) + link, cy - (tip / 2), Finger);
        }
    }

    private void RenderWrist(View view, ReadOnlySpan<float> joints, Span<byte> image, ReadOnlySpan<TableBlock> blocks)
    {
        int h = view.Height, w = view.Width, th = h * 2, tw = w * 2;
        var (x, y, opening) = ArmSketch.Tip(_profile, _profile.Arms[view.Arm], joints);

        // The window of the magnified table under the gripper, wrapping at the texture's edges.
        var top = Mod((int)(y * th) - (h / 2), th);
        var left = Mod((int)(x * tw) - (w / 2), tw);
        var firstSpan = Math.Min(w, tw - left);
        var texture = view.Texture.AsSpan();
        for (var row = 0; row < h; row++)
        {
            var src = texture.Slice(((top + row) % th) * tw * 3, tw * 3);
            var dst = image.Slice(row * w * 3, w * 3);
            src.Slice(left * 3, firstSpan * 3).CopyTo(dst);
            if (firstSpan < w)
            {
                src[..((w - firstSpan) * 3)].CopyTo(dst[(firstSpan * 3)..]);
            }
        }

        // Blocks as the magnified window sees them (texture wrap-around is the table's grain only).
        foreach (var block in blocks)
        {
            float cx = ((block.X - x) * tw) + (w / 2), cy = ((block.Y - y) * th) + (h / 2), half = block.Size * tw / 2;
            Raster.FillRect(image, h, w, (int)MathF.Round(cx - half), (int)MathF.Round(cy - half), (int)MathF.Round(cx + half), (int)MathF.Round(cy + half),
                TableScene.ColourOf(block.Colour));
        }

        // The gripper's fingers at the bottom of the view, as far apart as the gripper is open.
        var finger = Math.Max(2, w / 8);
        var gap = (int)(opening * (w / 2));
        Raster.FillRect(image, h, w, (w / 2) - (gap / 2) - finger, h - (h / 3), (w / 2) - (gap / 2), h, Finger);
        Raster.FillRect(image, h, w, (w / 2) + (gap / 2), h - (h / 3), (w / 2) + (gap / 2) + finger, h, Finger);
    }

    private void Paint(TableScene scene)
    {
        for (var i = 0; i < Cameras.Count; i++)
        {
            var c = Cameras[i];
            var wrist = c.Name.Contains("wrist", StringComparison.OrdinalIgnoreCase);
            var arm = wrist && c.Name.Contains("right", StringComparison.OrdinalIgnoreCase) ? Math.Min(1, _profile.Arms.Count - 1) : 0;

            // A wrist camera sees the table magnified: its texture is the scene painted at twice its own size.
            _views[i] = wrist
                ? new View(c.Height, c.Width, true, arm, scene.Paint(c.Height * 2, c.Width * 2))
                : new View(c.Height, c.Width, false, arm, scene.Paint(c.Height, c.Width));
        }
    }

    private static int Mod(int value, int modulus) => ((value % modulus) + modulus) % modulus;

    private sealed record View(int Height, int Width, bool Wrist, int Arm, byte[] Texture);
}

/// <summary>Objects on the simulated table that move (a task world's blocks): cameras draw them where they are now.</summary>
public interface ITableObjects
{
    ReadOnlySpan<TableBlock> Blocks { get; }
}

/// <summary>A square block on the table: centre and side in table coordinates (0..1 across and down the front image).</summary>
public readonly record struct TableBlock(BlockColour Colour, float X, float Y, float Size);
