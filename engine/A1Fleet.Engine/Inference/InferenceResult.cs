namespace A1Fleet.Engine.Inference;

public enum InferenceErrorKind
{
    None,
    InvalidInput,
    UnknownModel,
    Canceled,
    Failed,
}

/// <summary>The outcome of one request of a batch: an action chunk with the work it took, or an error for that request alone.</summary>
public sealed class InferenceResult
{
    public InferenceErrorKind ErrorKind { get; init; }
    public string? Error { get; init; }
    public bool Succeeded => ErrorKind == InferenceErrorKind.None;

    /// <summary>Chunk x valid action dims, row-major, in robot units (padding dims dropped).</summary>
    public float[] Actions { get; init; } = [];
    public int Chunk { get; init; }
    public int ActionDim { get; init; }

    /// <summary>0-based LM layer whose head output was returned.</summary>
    public int ExitLayer { get; init; }
    /// <summary>Index into the model's exit layers.</summary>
    public int ExitIndex { get; init; }
    public int LayersRun { get; init; }
    public int HeadCalls { get; init; }
    /// <summary>Euler steps taken over all head calls (0 for MLP heads).</summary>
    public int DenoisingSteps { get; init; }
    /// <summary>Expert layer evaluations: sum over head calls of steps x (exit layer + 1).</summary>
    public int ExpertLayerSteps { get; init; }
    /// <summary>True when the request stopped at its layer cap rather than by agreement or at the last layer.</summary>
    public bool StoppedAtCap { get; init; }

    public double PrefixMs { get; init; }
    public double LanguageModelMs { get; init; }
    public double HeadMs { get; init; }
    /// <summary>Validation, preprocessing, exit tests, buffer moves: everything but graph runs.</summary>
    public double BookkeepingMs { get; init; }
    public double TotalMs { get; init; }

    /// <summary>With <see cref="InferenceRequest.RecordDiscrepancies"/>: discrepancy at each exit index (NaN where the head did not run).</summary>
    public double[]? Discrepancies { get; init; }

    public static InferenceResult Failure(InferenceErrorKind kind, string message) => new() { ErrorKind = kind, Error = message };
}

/// <summary>What one batch cost, for benchmarks and metrics.</summary>
public sealed class BatchStatistics
{
    public int Requests { get; set; }
    public int LanguageModelLayerRuns { get; set; }
    /// <summary>Sum over LM layer runs of the batch size each ran at.</summary>
    public int LanguageModelRowLayers { get; set; }
    public int HeadRuns { get; set; }
    public int ExpertLayerRuns { get; set; }
    public double OrtMs { get; set; }
    public double TotalMs { get; set; }

    /// <summary>
    /// Rows of this batch ran in another's steps, or another's rows in this one's (<see cref="ISteppedBatch.TryJoin"/>):
    /// <see cref="TotalMs"/> is then not this batch's own work at its own size.
    /// </summary>
    public bool Joined { get; set; }
}
