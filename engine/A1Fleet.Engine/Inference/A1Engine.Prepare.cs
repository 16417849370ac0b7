using A1Fleet.EarlyExit;

namespace A1Fleet.Engine.Inference;

public sealed partial class A1Engine
{
    public const int MaxDenoisingSteps = 100;

    /// <summary>Validates a request and configures its row; returns the error for that request alone, or null.</summary>
    private string? Prepare(InferenceRequest request, int index, RowState row)
    {
        row.Reset(index, request);
        if (request.Images is null || request.Images.Count != _dims.Cameras)
        {
            return $"expected {_dims.Cameras} camera image(s) ({string.Join(", ", Manifest.Cameras.Select(c => c.Name))}), got {request.Images?.Count ?? 0}";
        }

        for (var c = 0; c < _dims.Cameras; c++)
        {
            var image = request.Images[c];
            if (image is null || image.Length != _dims.ImageBytes)
            {
                return $"camera '{Manifest.Cameras[c].Name}' image has {image?.Length ?? 0} bytes; expected {_dims.ImageHeight}x{_dims.ImageWidth} RGB8 = {_dims.ImageBytes}";
            }
        }

        if (request.State is null || request.State.Length != _dims.StateDim)
        {
            return $"state has {request.State?.Length ?? 0} values; the model expects {_dims.StateDim}";
        }

        for (var i = 0; i < request.State.Length; i++)
        {
            if (!float.IsFinite(request.State[i]))
            {
                return $"state[{i}] is {request.State[i]}; every state value must be finite";
            }
        }

        if (string.IsNullOrWhiteSpace(request.Instruction))
        {
            return "instruction is empty";
        }

        row.TokenCount = _tokenizer.Encode(request.Instruction, row.Tokens, out var tokenError);
        if (tokenError is not null)
        {
            return tokenError;
        }

        var decode = request.Decode ?? DecodeSettings.EarlyExitWarmK2;
        if (_dims.IsFlowMatching && decode.DenoisingSteps is < 1 or > MaxDenoisingSteps)
        {
            return $"denoising steps {decode.DenoisingSteps} is outside 1..{MaxDenoisingSteps}";
        }

        if (request.MaxLayer is < 0)
        {
            return $"max layer {request.MaxLayer} is negative";
        }

        row.EarlyExit = decode.Mode == ExitMode.EarlyExit || request.RecordDiscrepancies;
        row.RecordOnly = request.RecordDiscrepancies;
        row.Steps = _dims.IsFlowMatching ? decode.DenoisingSteps : 0;
        row.WarmStart = decode.WarmStart;
        row.Seed = request.Seed;
        row.FinalLayer = SnapToExit(request.MaxLayer ?? (_dims.Layers - 1));

        var thresholds = request.Thresholds;
        if (thresholds is not null)
        {
            if (thresholds.ModelId != ModelId)
            {
                return $"threshold set '{thresholds.Name}' was calibrated for model '{thresholds.ModelId}', not '{ModelId}'";
            }

            if (!thresholds.ExitLayers.AsSpan().SequenceEqual(_exitLayers))
            {
                return $"threshold set '{thresholds.Name}' has exit layers [{string.Join(",", thresholds.ExitLayers)}], the model [{string.Join(",", _exitLayers)}]";
            }
        }

        if (row.EarlyExit && !row.RecordOnly)
        {
            if (thresholds is null)
            {
                return "early exit needs a threshold set (calibrate one, or use full depth)";
            }

            row.Thresholds = thresholds.Thresholds;
        }

        var setMetric = thresholds?.ParsedMetric;
        row.Metric = request.Metric ?? setMetric ?? _defaultMetric;
        if (row.EarlyExit && !row.RecordOnly && setMetric is { } calibrated && row.Metric != calibrated)
        {
            return $"metric '{DiscrepancyMetrics.Name(row.Metric)}' differs from the '{DiscrepancyMetrics.Name(calibrated)}' the thresholds were calibrated with";
        }

        if (row.RecordOnly)
        {
            row.Discrepancies = new double[_exitLayers.Length];
            Array.Fill(row.Discrepancies, double.NaN);
        }

        return null;
    }

    /// <summary>The deepest exit layer not beyond <paramref name="maxLayer"/>, and never before the first exit.</summary>
    public int SnapToExit(int maxLayer)
    {
        var snapped = _exitLayers[0];
        foreach (var exit in _exitLayers)
        {
            if (exit <= maxLayer)
            {
                snapped = exit;
            }
        }

        return snapped;
    }

    private void FillInputs(EngineBatch b, int slot, RowState row)
    {
        var buffers = b.Buffers;
        var request = row.Source!;
        var pixels = _dims.ImageHeight * _dims.ImageWidth;
        var images = buffers.Images.Row(slot);
        for (var c = 0; c < _dims.Cameras; c++)
        {
            var source = request.Images[c];
            var camera = images.Slice(c * 3 * pixels, 3 * pixels);
            for (var p = 0; p < pixels; p++)
            {
                camera[p] = source[3 * p] * (1f / 255f);
                camera[pixels + p] = source[(3 * p) + 1] * (1f / 255f);
                camera[(2 * pixels) + p] = source[(3 * p) + 2] * (1f / 255f);
            }
        }

        row.Tokens.CopyTo(buffers.TokenIds.Row(slot));
        var bias = buffers.AttentionBias.Row(slot);
        bias.Clear();
        for (var t = row.TokenCount; t < _dims.MaxTokens; t++)
        {
            bias[_dims.InstructionPosition(t)] = MaskedBias;
        }

        var state = buffers.State.Row(slot);
        for (var i = 0; i < _dims.StateDim; i++)
        {
            state[i] = _stateNormalizer.Normalize(i, request.State[i]);
        }
    }
}
