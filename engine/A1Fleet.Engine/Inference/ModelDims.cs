using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Inference;

/// <summary>The manifest's dimensions, flattened once so hot loops read fields, not nested objects.</summary>
internal sealed record ModelDims(
    bool IsFlowMatching,
    int Layers,
    int SequenceLength,
    int Hidden,
    int KvHeads,
    int HeadDim,
    int Chunk,
    int ActionDim,
    int StateDim,
    int Cameras,
    int ImageHeight,
    int ImageWidth,
    int ImageTokens,
    int MaxTokens,
    int SuffixTokens,
    int ExpertHidden,
    int PrefixStages)
{
    public static ModelDims From(ModelManifest m)
    {
        var first = m.Cameras[0];
        if (m.Cameras.Any(c => c.Height != first.Height || c.Width != first.Width))
        {
            throw new ModelPackageException($"model '{m.ModelId}': format version {m.FormatVersion} needs every camera at one image size (the prefix graph takes one images tensor)");
        }

        return new ModelDims(
            m.IsFlowMatching,
            m.LanguageModel.Layers,
            m.LanguageModel.SequenceLength,
            m.LanguageModel.Hidden,
            m.LanguageModel.KvHeads,
            m.LanguageModel.HeadDim,
            m.Action.Chunk,
            m.Action.Dim,
            m.State.Dim,
            m.Cameras.Count,
            first.Height,
            first.Width,
            m.Cameras.Sum(c => c.Tokens),
            m.Tokenizer.MaxTokens,
            m.FlowMatching?.SuffixTokens ?? 0,
            m.FlowMatching?.ExpertHidden ?? 0,
            m.Files.PrefixStages.Count);
    }

    public int ImageBytes => ImageHeight * ImageWidth * 3;

    /// <summary>Prefix position of instruction token i (after the image tokens and the state token).</summary>
    public int InstructionPosition(int token) => ImageTokens + 1 + token;
}
