namespace A1Fleet.ModelBuilder.Config;

/// <summary>
/// Normalisation bounds (q01/q99) in robot units for the presets' proprio and actions. The arm is a
/// Franka Panda: its documented joint limits, pulled 0.05 rad inside so that recorded data (1st/99th
/// percentiles) never sits on a hard limit, plus the gripper's finger width 0..0.08 m.
/// </summary>
public static class RobotBounds
{
    private const float LimitMargin = 0.05f;

    private static readonly float[] FrankaJointMin = [-2.8973f, -1.7628f, -2.8973f, -3.0718f, -2.8973f, -0.0175f, -2.8973f];
    private static readonly float[] FrankaJointMax = [2.8973f, 1.7628f, 2.8973f, -0.0698f, 2.8973f, 3.7525f, 2.8973f];
    private const float GripperMin = 0f;
    private const float GripperMax = 0.08f;

    /// <summary>Bounds of the first <paramref name="joints"/> Franka joints followed by the gripper.</summary>
    public static (float[] Q01, float[] Q99) FrankaState(int joints)
    {
        if (joints < 1 || joints > FrankaJointMin.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(joints), $"a Franka has 1..{FrankaJointMin.Length} joints");
        }

        var q01 = new float[joints + 1];
        var q99 = new float[joints + 1];
        for (int i = 0; i < joints; i++)
        {
            q01[i] = FrankaJointMin[i] + LimitMargin;
            q99[i] = FrankaJointMax[i] - LimitMargin;
        }

        q01[joints] = GripperMin;
        q99[joints] = GripperMax;
        return (q01, q99);
    }

    /// <summary>
    /// Action bounds over the model's action dims: valid dims are joint-position targets and take the
    /// state's bounds in order; padding dims get [-1, 1] (unused, but the manifest wants one per dim).
    /// </summary>
    public static (float[] Q01, float[] Q99) ActionsFromState(float[] stateQ01, float[] stateQ99, int actionDim, IReadOnlyCollection<int> paddingDims)
    {
        var q01 = new float[actionDim];
        var q99 = new float[actionDim];
        int stateDim = 0;
        for (int d = 0; d < actionDim; d++)
        {
            if (paddingDims.Contains(d))
            {
                q01[d] = -1f;
                q99[d] = 1f;
            }
            else
            {
                q01[d] = stateQ01[stateDim];
                q99[d] = stateQ99[stateDim];
                stateDim++;
            }
        }

        return (q01, q99);
    }
}
