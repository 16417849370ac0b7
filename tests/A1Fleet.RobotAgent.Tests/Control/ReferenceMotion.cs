namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>
/// What the test "model" wants the arm to do: a slow sine around the Franka's ready pose, as a function of
/// the control tick. A chunk answering an observation taken at tick T holds ref(T+1), ref(T+2), ...; a
/// per-chunk bias stands in for the model's noise, which is what makes splices jump.
/// </summary>
internal static class ReferenceMotion
{
    private static readonly float[] Home = [0f, -0.785f, 0f, -2.356f, 0f, 1.571f, 0.785f, 0.04f];

    public static float At(long tick, int dim, double controlHz)
    {
        var amplitude = dim == 7 ? 0.02f : 0.3f;
        var phase = dim * 0.7;
        return Home[dim] + (float)(amplitude * Math.Sin((2 * Math.PI * 0.5 * tick / controlHz) + phase));
    }

    /// <summary>A chunk of <paramref name="steps"/> rows x 8 dims for the observation taken at <paramref name="observedTick"/>.</summary>
    public static float[] Chunk(long observedTick, int steps, double controlHz, float bias = 0f)
    {
        var actions = new float[steps * 8];
        for (var k = 0; k < steps; k++)
        {
            for (var d = 0; d < 8; d++)
            {
                actions[(k * 8) + d] = At(observedTick + 1 + k, d, controlHz) + (d == 7 ? bias / 10 : bias);
            }
        }

        return actions;
    }
}
