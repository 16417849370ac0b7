using A1Fleet.Grains;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.Silo.RobotGateway;

/// <summary>
/// What an observation must look like for a model, checked at the robot endpoint before the fleet sees it: a bad
/// request is refused at the door with the field it is about, instead of taking a place in a GPU batch.
/// </summary>
public static class ObservationShape
{
    /// <summary>RGB8, row-major HWC.</summary>
    public const int BytesPerPixel = 3;

    /// <summary>The first problem as (field, message), or null when the observation fits <paramref name="model"/>.</summary>
    public static (string Field, string Message)? Check(P.Observation observation, ModelSpec model) =>
        observation.HasActionsHeld && InputRules.ActionsHeld(observation.ActionsHeld, model.Chunk) is { } badHeld
            ? ("observation.actions_held", badHeld)
            : Check(observation.State, observation.Images.Count, c => observation.Images[c].Length, model);

    /// <summary>The same check for an observation a compatible endpoint built (images RGB8 HWC, already resized).</summary>
    public static (string Field, string Message)? Check(IReadOnlyList<float> state, byte[][] images, ModelSpec model) =>
        Check(state, images.Length, c => images[c].Length, model);

    private static (string Field, string Message)? Check(IReadOnlyList<float> state, int imageCount, Func<int, int> imageLength, ModelSpec model)
    {
        if (state.Count != model.StateDim)
        {
            return ("observation.state", $"has {state.Count} values; model '{model.ModelId}' expects {model.StateDim}");
        }

        for (var i = 0; i < state.Count; i++)
        {
            if (!float.IsFinite(state[i]))
            {
                return ($"observation.state[{i}]", $"is {state[i]}; every state value must be finite");
            }
        }

        if (imageCount != model.Cameras.Length)
        {
            return ("observation.images", $"has {imageCount} image(s); model '{model.ModelId}' expects {model.Cameras.Length} " +
                $"({string.Join(", ", model.Cameras.Select(c => c.Name))})");
        }

        for (var c = 0; c < model.Cameras.Length; c++)
        {
            var camera = model.Cameras[c];
            var expected = (long)camera.Height * camera.Width * BytesPerPixel;
            if (imageLength(c) != expected)
            {
                return ($"observation.images[{c}]", $"has {imageLength(c)} bytes; camera '{camera.Name}' expects {camera.Height}x{camera.Width} RGB8 = {expected}");
            }
        }

        return null;
    }
}
