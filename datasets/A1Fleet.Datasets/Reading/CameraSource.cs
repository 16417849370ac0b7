using A1Fleet.ModelFormat;

namespace A1Fleet.Datasets.Reading;

/// <summary>A model camera and the dataset feature that feeds it.</summary>
internal sealed record CameraSource(CameraSpec Camera, string FeatureKey, bool IsVideo);

/// <summary>Counts images whose size differed from the model camera, per camera and source size, for the summary's notes.</summary>
internal sealed class ResizeTally
{
    private readonly Dictionary<(string Camera, string Key, int Height, int Width), int> _counts = [];
    private readonly HashSet<(string Camera, string Key)> _videoCameras = [];

    public void Add(CameraSource source, int sourceHeight, int sourceWidth)
    {
        var key = (source.Camera.Name, source.FeatureKey, sourceHeight, sourceWidth);
        _counts[key] = _counts.GetValueOrDefault(key) + 1;
    }

    public void AddVideo(CameraSource source) => _videoCameras.Add((source.Camera.Name, source.FeatureKey));

    public List<string> Notes(IReadOnlyList<CameraSource> cameras)
    {
        var notes = new List<string>();
        foreach (var ((camera, key, height, width), count) in _counts.OrderBy(c => c.Key.Camera, StringComparer.Ordinal))
        {
            var target = cameras.First(c => c.Camera.Name == camera).Camera;
            notes.Add($"camera '{camera}' ({key}): {count} images of {height}x{width} resized to the model's {target.Height}x{target.Width} (ImageSharp bicubic, aspect ratio not kept)");
        }

        foreach (var (camera, key) in _videoCameras.Order())
        {
            var target = cameras.First(c => c.Camera.Name == camera).Camera;
            notes.Add($"camera '{camera}' ({key}): video frames decoded by ffmpeg and scaled to the model's {target.Height}x{target.Width} (area filter)");
        }

        return notes;
    }
}
