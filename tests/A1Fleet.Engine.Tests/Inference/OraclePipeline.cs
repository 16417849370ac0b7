using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.Engine.Preprocessing;
using A1Fleet.ModelBuilder.Oracle;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Tests.Inference;

/// <summary>
/// The A1 algorithm written as plainly as possible, one request at a time, on the plain-C# oracle
/// of the reference model: what the engine's batched, buffer-reusing loop must reproduce.
/// </summary>
internal sealed class OraclePipeline(ReferenceOracle oracle, ModelManifest m)
{
    public sealed record Outcome(float[] Actions, int ExitLayer, int HeadCalls, int DenoisingSteps);

    public Outcome Run(ObservationSample s, DecodeSettings decode, ThresholdSet? thresholds, ulong seed, int? maxLayer = null)
    {
        var exits = m.Exits.Layers;
        var last = m.LanguageModel.Layers - 1;
        var cap = maxLayer ?? last;
        var final = exits.Where(e => e <= cap).DefaultIfEmpty(exits[0]).Max();
        var tokens = new long[m.Tokenizer.MaxTokens];
        var count = new WordTokenizer(m.Tokenizer).Encode(s.Instruction, tokens, out _);
        var n = m.LanguageModel.SequenceLength;
        var imageTokens = m.Cameras.Sum(c => c.Tokens);
        var bias = new float[n];
        for (var t = count; t < m.Tokenizer.MaxTokens; t++)
        {
            bias[imageTokens + 1 + t] = -1e9f;
        }

        var stateNorm = new Normalizer(m.State.Q01, m.State.Q99);
        var state = s.State.Select((v, i) => stateNorm.Normalize(i, v)).ToArray();
        var pixels = m.Cameras[0].Height * m.Cameras[0].Width;
        var images = new float[m.Cameras.Count * 3 * pixels];
        for (var c = 0; c < m.Cameras.Count; c++)
        {
            for (var p = 0; p < pixels; p++)
            {
                for (var ch = 0; ch < 3; ch++)
                {
                    images[(((c * 3) + ch) * pixels) + p] = s.Images[c][(3 * p) + ch] / 255f;
                }
            }
        }

        var padding = Enumerable.Range(0, m.Action.Dim).Select(d => m.Action.PaddingDims.Contains(d)).ToArray();
        var hidden = oracle.Prefix(images, tokens, state);
        var keys = new List<float[]>();
        var values = new List<float[]>();
        float[]? previous = null;
        int heads = 0, steps = 0;
        for (var layer = 0; ; layer++)
        {
            // The MLP head at exit l reads the stream entering block l (A1's all_hidden_states[l]).
            var entering = hidden;
            var output = oracle.LmLayer(layer, hidden, bias);
            hidden = output.Hidden;
            keys.Add(output.Key);
            values.Add(output.Value);
            var early = decode.Mode == ExitMode.EarlyExit;
            if (early && layer == exits[0] - 1)
            {
                previous = Head(layer, entering, keys, values, bias, state, decode, null, seed, ref heads, ref steps);
                continue;
            }

            var atExit = exits.Contains(layer);
            if (!atExit || (!early && layer != final))
            {
                continue;
            }

            var action = Head(layer, entering, keys, values, bias, state, decode, previous, seed, ref heads, ref steps);
            var done = !early || layer == final;
            if (early && !done)
            {
                var d = DiscrepancyMetrics.ChunkDiscrepancy(thresholds!.ParsedMetric, action, previous, m.Action.Chunk, m.Action.Dim, padding);
                done = d <= thresholds.Thresholds[exits.IndexOf(layer)];
            }

            previous = action;
            if (done)
            {
                var actionNorm = new Normalizer(m.Action.Q01, m.Action.Q99);
                var valid = Enumerable.Range(0, m.Action.Dim).Where(d => !padding[d]).ToArray();
                var result = new float[m.Action.Chunk * valid.Length];
                for (var h = 0; h < m.Action.Chunk; h++)
                {
                    for (var v = 0; v < valid.Length; v++)
                    {
                        result[(h * valid.Length) + v] = actionNorm.Denormalize(valid[v], action[(h * m.Action.Dim) + valid[v]]);
                    }
                }

                return new Outcome(result, layer, heads, steps);
            }
        }
    }

    private float[] Head(int layer, float[] hidden, List<float[]> keys, List<float[]> values, float[] bias, float[] state, DecodeSettings decode, float[]? previous, ulong seed, ref int heads, ref int steps)
    {
        heads++;
        if (!m.IsFlowMatching)
        {
            return oracle.MlpHead(hidden);
        }

        var x = new float[m.Action.Chunk * m.Action.Dim];
        if (decode.WarmStart && previous is not null)
        {
            previous.CopyTo(x, 0);
        }
        else
        {
            GaussianNoise.Fill(x, seed, layer);
        }

        var k = decode.DenoisingSteps;
        for (var step = 0; step < k; step++)
        {
            var suffix = oracle.ExpertSuffix(x, [1f - ((float)step / k)], state);
            for (var e = 0; e <= layer; e++)
            {
                suffix = oracle.ExpertLayer(e, suffix, keys[e], values[e], bias);
            }

            var v = oracle.ExpertOut(suffix);
            for (var i = 0; i < x.Length; i++)
            {
                x[i] += (-1f / k) * v[i];
            }

            steps++;
        }

        return x;
    }
}
