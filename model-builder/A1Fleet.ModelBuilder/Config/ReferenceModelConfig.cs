using System.Text.Json.Serialization;

namespace A1Fleet.ModelBuilder.Config;

/// <summary>
/// Everything that defines a reference model: shapes, seed, normalisation bounds and how much sample
/// data to write. Presets live in <see cref="ReferenceModelPresets"/>; any config can be saved and
/// loaded as camelCase JSON (<see cref="ReferenceModelJson"/>). docs/reference-models.md describes
/// the architecture these numbers parameterise.
/// </summary>
public sealed record ReferenceModelConfig
{
    public string Name { get; init; } = "custom";
    public ulong Seed { get; init; } = 1;

    /// <summary>L: language-model layers (and FM expert layers, which pair with them one to one).</summary>
    public int LmLayers { get; init; }
    /// <summary>D: LM hidden size; must equal KvHeads * HeadDim.</summary>
    public int Hidden { get; init; }
    public int KvHeads { get; init; }
    public int HeadDim { get; init; }
    /// <summary>F: SwiGLU width of the LM and vision blocks.</summary>
    public int Mlp { get; init; }
    /// <summary>Lv: vision blocks over the image tokens inside prefix.onnx.</summary>
    public int VisionLayers { get; init; }

    public IReadOnlyList<string> Cameras { get; init; } = ["front"];
    /// <summary>S: square image side in pixels.</summary>
    public int ImageSize { get; init; }
    /// <summary>P: square patch side; S must be a multiple of P.</summary>
    public int Patch { get; init; }
    /// <summary>T: instruction tokens in the prefix.</summary>
    public int MaxTokens { get; init; }
    public IReadOnlyList<string> Vocabulary { get; init; } = ManipulationVocabulary.Words;

    /// <summary>H: action chunk length.</summary>
    public int Chunk { get; init; }
    /// <summary>A: action dims as the model sees them, padding included.</summary>
    public int ActionDim { get; init; }
    public IReadOnlyList<int> PaddingDims { get; init; } = [];
    /// <summary>Sd: proprio dims.</summary>
    public int StateDim { get; init; }

    /// <summary>"fm" or "mlp" (A1Fleet.ModelFormat.HeadKinds).</summary>
    public string HeadKind { get; init; } = "fm";
    /// <summary>De: FM expert hidden size (even: half sine, half cosine time features).</summary>
    public int ExpertHidden { get; init; }
    /// <summary>Fe: FM expert SwiGLU width.</summary>
    public int ExpertMlp { get; init; }
    /// <summary>Dh: MLP-head hidden size.</summary>
    public int MlpHeadHidden { get; init; }

    /// <summary>k in the exit layers 1, 1+k, 1+2k, ... plus the last layer.</summary>
    public int ExitInterval { get; init; } = 2;

    /// <summary>Action bounds in robot units, one per model dim (padding dims included, unused).</summary>
    public IReadOnlyList<float> ActionQ01 { get; init; } = [];
    public IReadOnlyList<float> ActionQ99 { get; init; } = [];
    public IReadOnlyList<float> StateQ01 { get; init; } = [];
    public IReadOnlyList<float> StateQ99 { get; init; } = [];

    public int SampleEpisodes { get; init; } = 8;
    public int SampleFramesPerEpisode { get; init; } = 6;

    [JsonIgnore] public bool IsFlowMatching => HeadKind == A1Fleet.ModelFormat.HeadKinds.FlowMatching;
    [JsonIgnore] public int PatchesPerSide => ImageSize / Patch;
    /// <summary>Pc = (S/P)^2 image tokens per camera.</summary>
    [JsonIgnore] public int PatchesPerCamera => PatchesPerSide * PatchesPerSide;
    [JsonIgnore] public int PatchVectorSize => 3 * Patch * Patch;
    [JsonIgnore] public int ImageTokens => Cameras.Count * PatchesPerCamera;
    /// <summary>Q = H * A action query tokens (MLP models only).</summary>
    [JsonIgnore] public int ActionQueries => IsFlowMatching ? 0 : Chunk * ActionDim;
    /// <summary>Index of the state token in the prefix.</summary>
    [JsonIgnore] public int StateTokenIndex => ImageTokens;
    [JsonIgnore] public int FirstInstructionToken => ImageTokens + 1;
    /// <summary>N: image tokens, state token, instruction tokens, action queries.</summary>
    [JsonIgnore] public int SequenceLength => ImageTokens + 1 + MaxTokens + ActionQueries;
    /// <summary>S_f = 1 + H: the FM suffix (state token, then action tokens).</summary>
    [JsonIgnore] public int SuffixTokens => 1 + Chunk;
    [JsonIgnore] public int ValidActionDims => ActionDim - PaddingDims.Count;
    [JsonIgnore] public int AttentionWidth => KvHeads * HeadDim;

    /// <summary>0-based exit layers: 1, 1+k, 1+2k, ... strictly below L-1, then L-1.</summary>
    public IReadOnlyList<int> ExitLayers()
    {
        var layers = new List<int>();
        for (int layer = 1; layer < LmLayers - 1; layer += ExitInterval)
        {
            layers.Add(layer);
        }

        layers.Add(LmLayers - 1);
        return layers;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every inconsistency found.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        void Require(bool condition, string problem)
        {
            if (!condition)
            {
                problems.Add(problem);
            }
        }

        Require(!string.IsNullOrWhiteSpace(Name), "name is empty");
        Require(LmLayers >= 2, "lmLayers must be at least 2 (exits start at layer 1)");
        Require(Hidden > 0 && KvHeads > 0 && HeadDim > 0, "hidden, kvHeads and headDim must be positive");
        Require(KvHeads * HeadDim == Hidden, "kvHeads * headDim must equal hidden (query heads = KV heads)");
        Require(Mlp > 0, "mlp must be positive");
        Require(VisionLayers >= 0, "visionLayers must not be negative");
        Require(Cameras.Count > 0 && Cameras.Distinct().Count() == Cameras.Count, "cameras must be non-empty and distinct");
        Require(ImageSize > 0 && Patch > 0 && ImageSize % Patch == 0, "imageSize must be a positive multiple of patch");
        Require(MaxTokens > 0, "maxTokens must be positive");
        Require(Vocabulary.Count > 2 && Vocabulary[0] == ManipulationVocabulary.Pad && Vocabulary[1] == ManipulationVocabulary.Unknown,
            "vocabulary must start with <pad>, <unk> and hold words");
        Require(Chunk > 0 && ActionDim > 0 && StateDim > 0, "chunk, actionDim and stateDim must be positive");
        Require(PaddingDims.All(d => d >= 0 && d < ActionDim) && PaddingDims.Distinct().Count() == PaddingDims.Count,
            "paddingDims must be distinct action dims");
        // Sample actions are the next H states, so valid action dims are the state dims, in order.
        Require(ValidActionDims == StateDim, "actionDim minus padding dims must equal stateDim");
        Require(ActionQ01.Count == ActionDim && ActionQ99.Count == ActionDim, "actionQ01/actionQ99 need one value per action dim");
        Require(StateQ01.Count == StateDim && StateQ99.Count == StateDim, "stateQ01/stateQ99 need one value per state dim");
        Require(ActionQ01.Zip(ActionQ99).All(p => p.First < p.Second) && StateQ01.Zip(StateQ99).All(p => p.First < p.Second),
            "every q01 must be below its q99");
        Require(ExitInterval >= 1, "exitInterval must be at least 1");
        Require(SampleEpisodes >= 0 && SampleFramesPerEpisode >= 0, "sample counts must not be negative");
        if (IsFlowMatching)
        {
            Require(ExpertHidden > 0 && ExpertHidden % 2 == 0, "expertHidden must be positive and even");
            Require(ExpertMlp > 0, "expertMlp must be positive");
        }
        else if (HeadKind == A1Fleet.ModelFormat.HeadKinds.Mlp)
        {
            Require(MlpHeadHidden > 0, "mlpHeadHidden must be positive");
        }
        else
        {
            problems.Add($"headKind must be \"fm\" or \"mlp\", not \"{HeadKind}\"");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException($"Invalid reference model config '{Name}': {string.Join("; ", problems)}.");
        }
    }
}
