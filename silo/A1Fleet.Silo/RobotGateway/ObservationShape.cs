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
    public static (string Field, string Message)? Check(P.Observation observation, ModelSpec model)
    {
        if (observation.State.Count != model.StateDim)
        {
            return ("observation.state", $"has {observation.State.Count} values; model '{model.ModelId}' expects {model.StateDim}");
        }

        for (var i = 0; i < observation.State.Count; i++)
        {
            if (!float.IsFinite(observation.State[i]))
            {
                return ($"observation.state[{i}]", $"is {observation.State[i]}; every state value must be finite");
            }
        }

        if (observation.Images.Count != model.Cameras.Length)
        {
            return ("observation.images", $"has {observation.Images.Count} image(s); model '{model.ModelId}' expects {model.Cameras.Length} " +
                $"({string.Join(", ", model.Cameras.Select(c => c.Name))})");
        }

        for (var c = 0; c < model.Cameras.Length; c++)
        {
            var camera = model.Cameras[c];
            var expected = (long)camera.Height * camera.Width * BytesPerPixel;
            if (observation.Images[c].Length != expected)
            {
                return ($"observation.images[{c}]", $"has {observation.Images[c].Length} bytes; camera '{camera.Name}' expects {camera.Height}x{camera.Width} RGB8 = {expected}");
            }
        }

        return null;
    }
}
