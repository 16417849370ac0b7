namespace A1Fleet.ModelFormat;

/// <summary>Collects every inconsistency in a manifest at once, so an exporter fixes them in one pass.</summary>
public static class ManifestValidator
{
    public static IReadOnlyList<string> Validate(ModelManifest m)
    {
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }

        Check(m.Format == ModelManifest.FormatName, $"format is '{m.Format}', expected '{ModelManifest.FormatName}'");
        Check(m.FormatVersion == ModelManifest.CurrentFormatVersion, $"formatVersion {m.FormatVersion} is not supported (this engine reads {ModelManifest.CurrentFormatVersion})");
        Check(!string.IsNullOrWhiteSpace(m.ModelId), "modelId is empty");
        Check(!string.IsNullOrWhiteSpace(m.ModelVersion), "modelVersion is empty");
        Check(m.HeadKind is HeadKinds.FlowMatching or HeadKinds.Mlp, $"headKind '{m.HeadKind}' is unknown (fm or mlp)");

        var lm = m.LanguageModel;
        Check(lm.Layers >= 2, $"languageModel.layers is {lm.Layers}; at least 2 are needed (the first exit compares with the layer before it)");
        Check(lm.Hidden > 0 && lm.KvHeads > 0 && lm.HeadDim > 0, "languageModel.hidden, kvHeads and headDim must be positive");
        Check(m.Files.PrefixStages.Count != 1, "files.prefixStages lists one graph: a split prefix has two stages or more (none: the prefix runs whole)");
        Check(m.Files.LanguageModelLayers.Count == lm.Layers, $"files.languageModelLayers lists {m.Files.LanguageModelLayers.Count} graphs for {lm.Layers} layers");

        var exits = m.Exits.Layers;
        Check(exits.Count > 0, "exits.layers is empty");
        for (var i = 0; i < exits.Count; i++)
        {
            Check(exits[i] >= 1 && exits[i] < lm.Layers, $"exits.layers[{i}] = {exits[i]} is outside 1..{lm.Layers - 1}");
            Check(i == 0 || exits[i] > exits[i - 1], $"exits.layers must ascend strictly (at index {i})");
        }

        Check(exits.Count == 0 || exits[^1] == lm.Layers - 1, $"the last exit must be the last layer {lm.Layers - 1}");

        var a = m.Action;
        Check(a.Chunk > 0 && a.Dim > 0, "action.chunk and action.dim must be positive");
        Check(a.Q01.Length == a.Dim && a.Q99.Length == a.Dim, $"action.q01/q99 need {a.Dim} values (got {a.Q01.Length}/{a.Q99.Length})");
        Check(a.PaddingDims.All(d => d >= 0 && d < a.Dim), "action.paddingDims name dims outside the action");
        Check(a.PaddingDims.Distinct().Count() < a.Dim, "every action dim is padding");
        Check(a.PaddingDims.Distinct().Count() == a.PaddingDims.Count, "action.paddingDims repeats a dim");
        Check(m.State.Dim > 0 && m.State.Q01.Length == m.State.Dim && m.State.Q99.Length == m.State.Dim, $"state.q01/q99 need {m.State.Dim} values");
        Check(Bounded(a.Q01, a.Q99) && Bounded(m.State.Q01, m.State.Q99), "q01 must not exceed q99 and all bounds must be finite");

        Check(m.Cameras.Count > 0, "cameras is empty");
        Check(m.Cameras.All(c => c.Height > 0 && c.Width > 0 && c.Tokens > 0 && !string.IsNullOrWhiteSpace(c.Name)), "every camera needs a name, height, width and tokens");
        Check(m.Cameras.Select(c => c.Name).Distinct().Count() == m.Cameras.Count, "camera names repeat");

        var t = m.Tokenizer;
        Check(t.Kind == "word-vocab", $"tokenizer.kind '{t.Kind}' is unknown (word-vocab)");
        Check(t.MaxTokens > 0, "tokenizer.maxTokens must be positive");
        Check(t.Vocabulary.Count > Math.Max(t.PadId, t.UnknownId), "tokenizer.vocabulary must contain the pad and unknown ids");

        var query = 0;
        if (m.HeadKind == HeadKinds.FlowMatching)
        {
            var fm = m.FlowMatching;
            Check(fm is not null, "headKind fm needs a flowMatching section");
            if (fm is not null)
            {
                Check(fm.ExpertLayers == lm.Layers, $"flowMatching.expertLayers {fm.ExpertLayers} must equal the LM layers {lm.Layers} (expert layer j attends to LM layer j)");
                Check(fm.SuffixTokens == a.Chunk + 1, $"flowMatching.suffixTokens {fm.SuffixTokens} must be chunk + 1 = {a.Chunk + 1}");
                Check(fm.ExpertHidden > 0, "flowMatching.expertHidden must be positive");
            }

            Check(m.Files.ExpertSuffix is not null && m.Files.ExpertOutput is not null, "fm models need files.expertSuffix and files.expertOutput");
            Check(m.Files.ExpertLayers.Count == lm.Layers, $"files.expertLayers lists {m.Files.ExpertLayers.Count} graphs for {lm.Layers} layers");
        }
        else if (m.HeadKind == HeadKinds.Mlp)
        {
            Check(m.MlpHead is not null, "headKind mlp needs an mlpHead section");
            query = m.MlpHead?.QueryTokens ?? 0;
            Check(query == a.Chunk * a.Dim, $"mlpHead.queryTokens {query} must be chunk * dim = {a.Chunk * a.Dim}");
            Check(m.Files.MlpHead is not null, "mlp models need files.mlpHead");
            Check(m.MlpHead is null || m.MlpHead.Reads == MlpHeadSpec.BlockInput,
                $"mlpHead.reads is '{m.MlpHead?.Reads}'; this engine reads '{MlpHeadSpec.BlockInput}' (the stream entering the exit block, A1's convention): re-export the head for it");
        }

        var expected = m.Cameras.Sum(c => c.Tokens) + 1 + t.MaxTokens + query;
        Check(lm.SequenceLength == expected, $"languageModel.sequenceLength {lm.SequenceLength} != image tokens + 1 state token + maxTokens + queries = {expected}");
        Check(m.Defaults.DenoisingSteps > 0, "defaults.denoisingSteps must be positive");
        Check(m.Defaults.Metric is "cosine" or "l2" or "mean" or "max", $"defaults.metric '{m.Defaults.Metric}' is unknown");
        return errors;
    }

    private static bool Bounded(float[] lo, float[] hi)
    {
        for (var i = 0; i < Math.Min(lo.Length, hi.Length); i++)
        {
            if (!float.IsFinite(lo[i]) || !float.IsFinite(hi[i]) || lo[i] > hi[i])
            {
                return false;
            }
        }

        return true;
    }
}
