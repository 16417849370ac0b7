using System.Text.Json.Serialization;

namespace A1Fleet.ModelFormat;

/// <summary>
/// The versioned <c>model.json</c> of a model package: everything the engine must know to run the
/// split ONNX graphs layer by layer. docs/model-format.md is the normative description.
/// </summary>
public sealed class ModelManifest
{
    public const string FormatName = "a1fleet-model";
    public const int CurrentFormatVersion = 1;

    public string Format { get; set; } = FormatName;
    public int FormatVersion { get; set; } = CurrentFormatVersion;
    public string ModelId { get; set; } = "";
    public string ModelVersion { get; set; } = "";
    /// <summary>"fm" (flow-matching expert) or "mlp" (MLP head on action query tokens).</summary>
    public string HeadKind { get; set; } = "";
    public LanguageModelSpec LanguageModel { get; set; } = new();
    public ExitSpec Exits { get; set; } = new();
    public ActionSpec Action { get; set; } = new();
    public StateSpec State { get; set; } = new();
    public List<CameraSpec> Cameras { get; set; } = [];
    public TokenizerSpec Tokenizer { get; set; } = new();
    public DefaultsSpec Defaults { get; set; } = new();
    public FlowMatchingSpec? FlowMatching { get; set; }
    public MlpHeadSpec? MlpHead { get; set; }
    public ModelFiles Files { get; set; } = new();
    /// <summary>Optional observations shipped with the package (relative path), used for calibration and demos.</summary>
    public string? SampleData { get; set; }
    /// <summary>Threshold sets shipped with the package (relative paths).</summary>
    public List<string> ThresholdSets { get; set; } = [];
    /// <summary>Free-form provenance (builder config, seed, source checkpoint).</summary>
    public Dictionary<string, string> Provenance { get; set; } = [];

    [JsonIgnore] public bool IsFlowMatching => HeadKind == HeadKinds.FlowMatching;
}

public static class HeadKinds
{
    public const string FlowMatching = "fm";
    public const string Mlp = "mlp";
}

public sealed class LanguageModelSpec
{
    public int Layers { get; set; }
    public int Hidden { get; set; }
    /// <summary>Key/value heads exported per layer (what the FM expert attends to).</summary>
    public int KvHeads { get; set; }
    public int HeadDim { get; set; }
    /// <summary>Prefix length N: image tokens, then one state token, then instruction tokens, then (MLP) action queries.</summary>
    public int SequenceLength { get; set; }
}

public sealed class ExitSpec
{
    /// <summary>k in "1, 1+k, 1+2k, ... plus the last layer".</summary>
    public int Interval { get; set; } = 2;
    /// <summary>0-based LM layers at which the head may be evaluated for an exit, ascending.</summary>
    public List<int> Layers { get; set; } = [];
}

public sealed class ActionSpec
{
    /// <summary>Chunk length H.</summary>
    public int Chunk { get; set; }
    /// <summary>Action dim A as the model sees it, padding included.</summary>
    public int Dim { get; set; }
    /// <summary>Dims the model pads (ignored by the exit metric and dropped from results).</summary>
    public List<int> PaddingDims { get; set; } = [];
    /// <summary>Normalisation bounds, one per model dim (padding dims included, unused).</summary>
    public float[] Q01 { get; set; } = [];
    public float[] Q99 { get; set; } = [];
}

public sealed class StateSpec
{
    public int Dim { get; set; }
    public float[] Q01 { get; set; } = [];
    public float[] Q99 { get; set; } = [];
}

public sealed class CameraSpec
{
    public string Name { get; set; } = "";
    public int Height { get; set; }
    public int Width { get; set; }
    /// <summary>Tokens this camera contributes to the prefix.</summary>
    public int Tokens { get; set; }
}

public sealed class TokenizerSpec
{
    /// <summary>"word-vocab": lower-cased words split on non-letters/digits, looked up in <see cref="Vocabulary"/>.</summary>
    public string Kind { get; set; } = "word-vocab";
    public int MaxTokens { get; set; }
    public int PadId { get; set; }
    public int UnknownId { get; set; } = 1;
    public List<string> Vocabulary { get; set; } = [];
}

public sealed class DefaultsSpec
{
    public string Metric { get; set; } = "cosine";
    public int DenoisingSteps { get; set; } = 2;
    public bool WarmStart { get; set; } = true;
}

public sealed class FlowMatchingSpec
{
    public int ExpertLayers { get; set; }
    public int ExpertHidden { get; set; }
    /// <summary>Suffix length S = 1 (state token) + H (action tokens).</summary>
    public int SuffixTokens { get; set; }
}

public sealed class MlpHeadSpec
{
    /// <summary>The one value of <see cref="Reads"/> this engine runs: A1's convention.</summary>
    public const string BlockInput = "block-input";

    /// <summary>Q = H * A action query tokens, the last Q positions of the prefix.</summary>
    public int QueryTokens { get; set; }

    /// <summary>
    /// Which residual stream the head reads at exit l. "block-input": the stream entering block l
    /// (A1's <c>all_hidden_states[l]</c>; the first exit's reference reads the embeddings). Required,
    /// so that a package made for the earlier reading (the stream after block l) is refused rather
    /// than served wrong.
    /// </summary>
    public string Reads { get; set; } = "";
}

public sealed class ModelFiles
{
    public string Prefix { get; set; } = "";
    /// <summary>
    /// Optional: the prefix split at its vision blocks, in order (stage 0 reads images and writes vision_out; a middle
    /// stage reads vision and writes vision_out; the last reads vision, token_ids and state and writes hidden, as
    /// <see cref="Prefix"/> does). Chained they compute what <see cref="Prefix"/> does; an engine runs each as a step of
    /// its own, so a batch arriving meanwhile waits for one stage rather than the whole prefix. Empty: the prefix runs whole.
    /// </summary>
    public List<string> PrefixStages { get; set; } = [];
    public List<string> LanguageModelLayers { get; set; } = [];
    /// <summary>MLP models: the MLP head graph.</summary>
    public string? MlpHead { get; set; }
    /// <summary>FM models: suffix embedding graph.</summary>
    public string? ExpertSuffix { get; set; }
    /// <summary>FM models: one graph per expert layer.</summary>
    public List<string> ExpertLayers { get; set; } = [];
    /// <summary>FM models: output MLP producing the velocity.</summary>
    public string? ExpertOutput { get; set; }
}
