using A1Fleet.Datasets.Images;
using A1Fleet.Grains;

namespace A1Fleet.Silo.Compat;

/// <summary>
/// A compatible client's observation in the model's terms, by the robot's profile: state floats, one RGB8 HWC image
/// per model camera at the camera's size (any source size is resized), and the prompt. Errors name the client's key.
/// </summary>
public static class CompatObservations
{
    /// <summary>An openpi observation dict (decoded by <see cref="MsgpackNumpy"/>).</summary>
    public static (float[] State, byte[][] Images, string? Prompt) FromOpenPi(Dictionary<string, object?> observation, CompatProfile profile, ModelSpec model, int maxImageSide)
    {
        var images = new byte[model.Cameras.Length][];
        for (var c = 0; c < images.Length; c++)
        {
            var key = profile.Cameras[c];
            var value = Lookup(observation, key) ?? throw Invalid(key, $"is missing: camera '{model.Cameras[c].Name}' of model '{model.ModelId}' takes it (the robot's profile, layout '{profile.Layout}')");
            images[c] = OpenPiImage(value as NdArray ?? throw Invalid(key, "is not a numpy array (uint8 HWC or CHW image)"), key, model.Cameras[c], maxImageSide);
        }

        var state = new List<float>(model.StateDim);
        foreach (var key in profile.StateKeys)
        {
            var value = Lookup(observation, key) ?? throw Invalid(key, "is missing: the robot's profile makes the state of it");
            AppendNumbers(state, value, key, model.StateDim);
        }

        var prompt = observation.GetValueOrDefault("prompt") switch
        {
            null => null,
            string text => text,
            byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
            _ => throw Invalid("prompt", "is not a str"),
        };
        return ([.. state], images, prompt);
    }

    /// <summary>A1's base64 image files, in the robot's camera order, to the model's cameras.</summary>
    public static byte[][] FromA1Images(IReadOnlyList<byte[]> files, CompatProfile profile, ModelSpec model, int maxImageSide)
    {
        var images = new byte[model.Cameras.Length][];
        for (var c = 0; c < images.Length; c++)
        {
            var position = IndexOf(profile.CameraOrder, profile.Cameras[c]);
            var field = $"images[{position}]";
            if (position >= files.Count)
            {
                throw Invalid("images", $"has {files.Count} image(s); the robot's camera order [{string.Join(", ", profile.CameraOrder)}] puts '{profile.Cameras[c]}' (model camera '{model.Cameras[c].Name}') at position {position}");
            }

            var camera = model.Cameras[c];
            DecodedImage decoded;
            try
            {
                decoded = ImageCodec.DecodeRgb(files[position], camera.Height, camera.Width);
            }
            catch (InvalidDataException ex)
            {
                throw Invalid(field, $"is not a PNG or JPEG file ({ex.Message})");
            }

            if (decoded.SourceHeight > maxImageSide || decoded.SourceWidth > maxImageSide)
            {
                throw Invalid(field, $"is {decoded.SourceHeight}x{decoded.SourceWidth}; at most {maxImageSide} pixels a side are accepted (A1Fleet:Compat:MaxImageSide)");
            }

            images[c] = decoded.Rgb;
        }

        return images;
    }

    private static int IndexOf(IReadOnlyList<string> list, string name)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A flat key first (openpi's DROID/LIBERO keys contain '/'), else a path into nested maps (ALOHA's images/cam_high).</summary>
    private static object? Lookup(Dictionary<string, object?> root, string key)
    {
        if (root.TryGetValue(key, out var flat))
        {
            return flat;
        }

        object? node = root;
        foreach (var part in key.Split('/'))
        {
            if (node is not Dictionary<string, object?> map || !map.TryGetValue(part, out node))
            {
                return null;
            }
        }

        return node;
    }

    private static byte[] OpenPiImage(NdArray array, string key, CameraInfo camera, int maxImageSide)
    {
        if (array.Dtype is not ("|u1" or "<u1" or "=u1"))
        {
            throw Invalid(key, $"has dtype {array.Dtype}; images must be uint8 ('|u1'), as openpi's clients send them (image_tools.convert_to_uint8)");
        }

        var shape = array.Shape;
        var hwc = shape.Length == 3 && shape[2] == 3;
        var chw = shape.Length == 3 && shape[0] == 3 && !hwc;
        if (!hwc && !chw)
        {
            throw Invalid(key, $"has shape [{string.Join(", ", shape)}]; an image is (H, W, 3) or (3, H, W) RGB");
        }

        var (height, width) = hwc ? (shape[0], shape[1]) : (shape[1], shape[2]);
        if (height < 1 || width < 1 || height > maxImageSide || width > maxImageSide)
        {
            throw Invalid(key, $"is {height}x{width}; each side must be within 1..{maxImageSide} pixels (A1Fleet:Compat:MaxImageSide)");
        }

        var source = array.Data.Span;
        var rgb = new byte[height * width * 3];
        if (hwc)
        {
            source.CopyTo(rgb);
        }
        else
        {
            var plane = height * width;
            for (var p = 0; p < plane; p++)
            {
                rgb[p * 3] = source[p];
                rgb[(p * 3) + 1] = source[plane + p];
                rgb[(p * 3) + 2] = source[(2 * plane) + p];
            }
        }

        return ImageCodec.ResizeRgb(rgb, height, width, camera.Height, camera.Width);
    }

    private static void AppendNumbers(List<float> state, object? value, string key, int stateDim)
    {
        // Bounded by the model's state: a state key cannot make the server read a huge array value by value.
        var room = stateDim + 1 - state.Count;
        switch (value)
        {
            case NdArray array when array.Count > room:
                throw Invalid(key, $"has {array.Count} values; model expects a state of {stateDim} in all");
            case NdArray array:
                state.AddRange(array.ToFloats());
                break;
            case double d:
                state.Add((float)d);
                break;
            case long l:
                state.Add(l);
                break;
            case ulong u:
                state.Add(u);
                break;
            case bool b:
                state.Add(b ? 1 : 0);
                break;
            case List<object?> list when list.Count > room:
                throw Invalid(key, $"has {list.Count} values; model expects a state of {stateDim} in all");
            case List<object?> list:
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is List<object?> or NdArray or Dictionary<string, object?> or string or byte[] or null)
                    {
                        throw Invalid($"{key}[{i}]", "is not a number");
                    }

                    AppendNumbers(state, list[i], $"{key}[{i}]", stateDim);
                }

                break;
            default:
                throw Invalid(key, "is not a number or numeric array");
        }
    }

    private static CompatException Invalid(string field, string message) => new(CompatFailure.Invalid, $"{Printable.Escape(field)}: {message}");
}
