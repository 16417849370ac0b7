using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Samples;

/// <summary>
/// A smooth proprio trajectory, one sinusoid per dim around an offset centre, kept within 90% of the
/// half-range around the middle of q01..q99 so every state and action lies inside the bounds.
/// </summary>
internal sealed class JointTrajectory
{
    private readonly double[] centre;
    private readonly double[] amplitude;
    private readonly double[] frequency;
    private readonly double[] phase;
    private readonly double gripperLow;
    private readonly double gripperHigh;

    private JointTrajectory(double[] centre, double[] amplitude, double[] frequency, double[] phase, double gripperLow, double gripperHigh)
    {
        this.centre = centre;
        this.amplitude = amplitude;
        this.frequency = frequency;
        this.phase = phase;
        this.gripperLow = gripperLow;
        this.gripperHigh = gripperHigh;
    }

    public static JointTrajectory Draw(Xoshiro256StarStar random, IReadOnlyList<float> q01, IReadOnlyList<float> q99)
    {
        int dims = q01.Count;
        var centre = new double[dims];
        var amplitude = new double[dims];
        var frequency = new double[dims];
        var phase = new double[dims];
        for (int d = 0; d < dims; d++)
        {
            double middle = (q01[d] + q99[d]) / 2.0;
            double half = (q99[d] - q01[d]) / 2.0;
            centre[d] = middle + (half * random.NextDouble(-0.3, 0.3));
            amplitude[d] = half * random.NextDouble(0.2, 0.6);
            frequency[d] = random.NextDouble(0.15, 0.35);
            phase[d] = random.NextDouble(0, 2 * Math.PI);
        }

        // The last dim is the gripper: remember its bounds to express the opening as a fraction.
        return new JointTrajectory(centre, amplitude, frequency, phase, q01[dims - 1], q99[dims - 1]);
    }

    /// <summary>The state at control step <paramref name="step"/> (steps continue past the episode for action chunks).</summary>
    public float[] At(int step)
    {
        var state = new float[centre.Length];
        for (int d = 0; d < state.Length; d++)
        {
            state[d] = (float)(centre[d] + (amplitude[d] * Math.Sin((frequency[d] * step) + phase[d])));
        }

        return state;
    }

    /// <summary>Gripper opening in [0,1] at a step (drives the wrist camera's finger drawing).</summary>
    public double GripperOpening(int step)
    {
        double value = At(step)[^1];
        return Math.Clamp((value - gripperLow) / (gripperHigh - gripperLow), 0, 1);
    }
}
