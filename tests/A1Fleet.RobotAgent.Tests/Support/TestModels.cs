using A1Fleet.Grains;

namespace A1Fleet.RobotAgent.Tests.Support;

/// <summary>Model specs shaped like the reference models (Franka-like: 7 joints + gripper), small enough for unit tests.</summary>
internal static class TestModels
{
    /// <summary>The Panda's limits pulled 0.05 rad inside, as the reference packages' q01/q99 are.</summary>
    public static readonly float[] FrankaQ01 = [-2.8473f, -1.7128f, -2.8473f, -3.0218f, -2.8473f, 0.0325f, -2.8473f, 0f];
    public static readonly float[] FrankaQ99 = [2.8473f, 1.7128f, 2.8473f, -0.1198f, 2.8473f, 3.7025f, 2.8473f, 0.08f];

    public static ModelSpec Spec(int stateDim = 8, int actionDim = 8, int chunk = 10, params CameraInfo[] cameras)
    {
        var q01 = Enumerable.Range(0, stateDim).Select(i => i < FrankaQ01.Length ? FrankaQ01[i] : -1f).ToArray();
        var q99 = Enumerable.Range(0, stateDim).Select(i => i < FrankaQ99.Length ? FrankaQ99[i] : 3f).ToArray();
        CameraInfo[] cams = cameras.Length > 0 ? cameras : [new CameraInfo("front", 32, 32), new CameraInfo("wrist", 24, 32)];
        return new ModelSpec("test-fm", "1", stateDim, actionDim, chunk, cams, q01, q99, 12, [1, 3, 5]);
    }
}
