namespace A1Fleet.Engine.Preprocessing;

/// <summary>A1's q01/q99 normalisation: x' = 2 (x - q01) / (q99 - q01 + 1e-8) - 1, clipped to [-1, 1].</summary>
public sealed class Normalizer
{
    private const float Epsilon = 1e-8f;
    private readonly float[] _q01;
    private readonly float[] _range;

    public Normalizer(float[] q01, float[] q99)
    {
        _q01 = q01;
        _range = new float[q01.Length];
        for (var i = 0; i < q01.Length; i++)
        {
            _range[i] = q99[i] - q01[i] + Epsilon;
        }
    }

    public float Normalize(int dim, float value) => Math.Clamp((2f * (value - _q01[dim]) / _range[dim]) - 1f, -1f, 1f);

    /// <summary>Maps a model output back to robot units; the output is clipped to [-1, 1] first, so
    /// actions stay inside the range the training data covered.</summary>
    public float Denormalize(int dim, float value) => ((Math.Clamp(value, -1f, 1f) + 1f) * 0.5f * _range[dim]) + _q01[dim];
}
