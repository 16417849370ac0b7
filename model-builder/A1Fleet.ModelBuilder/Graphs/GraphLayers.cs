using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Weights;
using static A1Fleet.ModelBuilder.Weights.WeightNames;

namespace A1Fleet.ModelBuilder.Graphs;

/// <summary>The layers the reference graphs are made of, emitted into one writer from named weights.</summary>
internal sealed class GraphLayers(OnnxModelWriter writer, ReferenceWeights weights)
{
    private readonly int heads = weights.Config.KvHeads;
    private readonly int headDim = weights.Config.HeadDim;

    public OnnxModelWriter Writer => writer;

    public string Tensor(string name) => writer.Weight(weights[name]);

    /// <summary>x W + b (MatMul + Add, so any leading dims pass through).</summary>
    public string Linear(string x, string linear) => writer.Add(writer.MatMul(x, Tensor(Weight(linear))), Tensor(Bias(linear)));

    public string LayerNorm(string x, string norm) => writer.LayerNormalization(x, Tensor(Scale(norm)), Tensor(Bias(norm)));

    /// <summary>x * sigmoid(x), spelled out because opset 17 has no SiLU operator.</summary>
    public string SiLU(string x) => writer.Mul(x, writer.Sigmoid(x));

    /// <summary>down(SiLU(gate(x)) * up(x)).</summary>
    public string SwiGlu(string x, string block) =>
        Linear(writer.Mul(SiLU(Linear(x, Gate(block))), Linear(x, Up(block))), Down(block));

    /// <summary>MLP-ResNet block: x + fc2(ReLU(fc1(x))).</summary>
    public string ResidualBlock(string x, string block) =>
        writer.Add(x, Linear(writer.Relu(Linear(x, ResidualFirst(block))), ResidualSecond(block)));

    /// <summary>[B, tokens, Hkv*hd] -> [B, Hkv, tokens, hd].</summary>
    public string SplitHeads(string x, int tokens) => writer.Transpose(writer.Reshape(x, 0, tokens, heads, headDim), 0, 2, 1, 3);

    /// <summary>[B, Hkv, tokens, hd] -> [B, tokens, Hkv*hd].</summary>
    public string MergeHeads(string x, int tokens) => writer.Reshape(writer.Transpose(x, 0, 2, 1, 3), 0, tokens, heads * headDim);

    /// <summary>q k^T / sqrt(hd): [B, Hkv, Sq, hd] x [B, Hkv, Sk, hd] -> [B, Hkv, Sq, Sk].</summary>
    public string Scores(string q, string k) =>
        writer.Mul(writer.MatMul(q, writer.Transpose(k, 0, 1, 3, 2)), writer.Scalar(SuffixConstants.AttentionScale(headDim)));

    /// <summary>attn_bias [B, N] -> [B, 1, 1, N], broadcast over heads and queries.</summary>
    public string KeyBias(string attentionBias) => writer.Unsqueeze(attentionBias, 1, 2);

    /// <summary>
    /// Pre-LN bidirectional block of the vision tower and the LM. Returns the new residual stream and
    /// the block's keys/values (computed from its input) in [B, Hkv, tokens, hd].
    /// </summary>
    public (string Hidden, string Key, string Value) EncoderBlock(string x, string block, int tokens, string? keyBias)
    {
        string normed = LayerNorm(x, Norm1(block));
        string q = SplitHeads(Linear(normed, Query(block)), tokens);
        string k = SplitHeads(Linear(normed, Key(block)), tokens);
        string v = SplitHeads(Linear(normed, Value(block)), tokens);
        string scores = Scores(q, k);
        if (keyBias is not null)
        {
            scores = writer.Add(scores, keyBias);
        }

        string context = MergeHeads(writer.MatMul(writer.Softmax(scores), v), tokens);
        string afterAttention = writer.Add(x, Linear(context, AttentionOut(block)));
        string output = writer.Add(afterAttention, SwiGlu(LayerNorm(afterAttention, Norm2(block)), block));
        return (output, k, v);
    }
}
