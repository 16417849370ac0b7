using A1Fleet.Engine.Onnx;

namespace A1Fleet.Engine.Inference;

/// <summary>
/// Every tensor a batch touches, allocated once for the largest batch. The residual stream is
/// double-buffered by layer parity: layer j reads <c>Hidden[j % 2]</c> and writes the other, so a
/// layer's binding never changes between batches.
/// <para>An engine keeps one set per batch in flight (<see cref="EngineOptions.MaxBatchesInFlight"/>); each set has its
/// own bindings, told apart by <see cref="Slot"/> in the graphs' binding keys.</para>
/// </summary>
internal sealed class EngineBuffers : IDisposable
{
    /// <summary>Binding keys of one set lie below this; a set's keys start at <see cref="Slot"/> times it.</summary>
    public const int KeysPerSlot = 4096;

    public EngineBuffers(ModelDims d, int maxBatch, int slot = 0)
    {
        Slot = slot;
        Images = new TensorBuffer<float>(maxBatch, d.Cameras, 3, d.ImageHeight, d.ImageWidth);
        TokenIds = new TensorBuffer<long>(maxBatch, d.MaxTokens);
        State = new TensorBuffer<float>(maxBatch, d.StateDim);
        AttentionBias = new TensorBuffer<float>(maxBatch, d.SequenceLength);
        Hidden = [new(maxBatch, d.SequenceLength, d.Hidden), new(maxBatch, d.SequenceLength, d.Hidden)];
        Vision = d.PrefixStages == 0 ? [] : [new(maxBatch, d.ImageTokens, d.Hidden), new(maxBatch, d.ImageTokens, d.Hidden)];
        if (d.IsFlowMatching)
        {
            Keys = Enumerable.Range(0, d.Layers).Select(_ => new TensorBuffer<float>(maxBatch, d.KvHeads, d.SequenceLength, d.HeadDim)).ToArray();
            Values = Enumerable.Range(0, d.Layers).Select(_ => new TensorBuffer<float>(maxBatch, d.KvHeads, d.SequenceLength, d.HeadDim)).ToArray();
            NoisyActions = new TensorBuffer<float>(maxBatch, d.Chunk, d.ActionDim);
            Time = new TensorBuffer<float>(maxBatch);
            Suffix = [new(maxBatch, d.SuffixTokens, d.ExpertHidden), new(maxBatch, d.SuffixTokens, d.ExpertHidden)];
            Velocity = new TensorBuffer<float>(maxBatch, d.Chunk, d.ActionDim);
            HeadActions = NoisyActions;
        }
        else
        {
            Keys = [];
            Values = [];
            NoisyActions = Time = Velocity = new TensorBuffer<float>(1, 1);
            Suffix = [];
            HeadActions = new TensorBuffer<float>(maxBatch, d.Chunk, d.ActionDim);
        }
    }

    /// <summary>Which of the engine's buffer sets this is (0-based).</summary>
    public int Slot { get; }

    /// <summary>A graph's binding key for this set: <paramref name="key"/> (batch size and buffer variant, below 4096) made unique per set.</summary>
    public int BindingKey(int key) => (Slot * KeysPerSlot) + key;

    public TensorBuffer<float> Images { get; }
    public TensorBuffer<long> TokenIds { get; }
    public TensorBuffer<float> State { get; }
    public TensorBuffer<float> AttentionBias { get; }
    public TensorBuffer<float>[] Hidden { get; }

    /// <summary>The vision tokens between prefix stages, double-buffered by stage parity: stage k writes <c>Vision[k % 2]</c> (none when the prefix runs whole).</summary>
    public TensorBuffer<float>[] Vision { get; }
    public TensorBuffer<float>[] Keys { get; }
    public TensorBuffer<float>[] Values { get; }
    public TensorBuffer<float> NoisyActions { get; }
    public TensorBuffer<float> Time { get; }
    public TensorBuffer<float>[] Suffix { get; }
    public TensorBuffer<float> Velocity { get; }
    public TensorBuffer<float> HeadActions { get; }

    /// <summary>The residual stream entering LM layer <paramref name="layer"/> (layer 0: the prefix embeddings).</summary>
    public TensorBuffer<float> HiddenBefore(int layer) => Hidden[layer % 2];

    /// <summary>The residual stream after LM layer <paramref name="layer"/> has run.</summary>
    public TensorBuffer<float> HiddenAfter(int layer) => Hidden[(layer + 1) % 2];

    public void Dispose()
    {
        Images.Dispose();
        TokenIds.Dispose();
        State.Dispose();
        AttentionBias.Dispose();
        foreach (var b in Hidden.Concat(Vision).Concat(Keys).Concat(Values).Concat(Suffix))
        {
            b.Dispose();
        }

        NoisyActions.Dispose();
        Time.Dispose();
        Velocity.Dispose();
        HeadActions.Dispose();
    }
}
