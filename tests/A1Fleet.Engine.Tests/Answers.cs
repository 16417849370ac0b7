using A1Fleet.Engine.Inference;

namespace A1Fleet.Engine.Tests;

internal static class Answers
{
    /// <summary>
    /// The same exits and work, and actions equal to float rounding (1e-4 relative): a row's numbers do not depend on
    /// the rows beside it or on how its work is cut into steps, but another batch size or graph cut may take other kernels.
    /// </summary>
    public static void AssertClose(InferenceResult[] expected, InferenceResult[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var r = 0; r < expected.Length; r++)
        {
            var want = expected[r];
            var got = actual[r];
            Assert.NotNull(got);
            Assert.True(got.Succeeded, $"{what} request {r}: {got.Error}");
            Assert.Equal(want.ExitLayer, got.ExitLayer);
            Assert.Equal(want.LayersRun, got.LayersRun);
            Assert.Equal(want.HeadCalls, got.HeadCalls);
            Assert.Equal(want.DenoisingSteps, got.DenoisingSteps);
            Assert.Equal(want.ExpertLayerSteps, got.ExpertLayerSteps);
            Assert.Equal(want.StoppedAtCap, got.StoppedAtCap);
            Assert.Equal(want.Actions.Length, got.Actions.Length);
            for (var i = 0; i < want.Actions.Length; i++)
            {
                Assert.True(Math.Abs(want.Actions[i] - got.Actions[i]) <= 1e-4 * Math.Max(1, Math.Abs(want.Actions[i])),
                    $"{what} request {r} action value {i}: {got.Actions[i]} against {want.Actions[i]}");
            }
        }
    }
}
