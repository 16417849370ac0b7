using A1Fleet.EarlyExit;

namespace A1Fleet.Engine.Inference;

/// <summary>A request's place in a running batch; pooled per engine so a batch allocates none.</summary>
internal sealed class RowState
{
    public RowState(ModelDims dims)
    {
        Previous = new float[dims.Chunk * dims.ActionDim];
        Tokens = new long[dims.MaxTokens];
    }

    /// <summary>The batch the row was submitted with: it answers through that batch's callback, in whichever batch it runs.</summary>
    public EngineBatch? Owner;
    public int Request;
    public bool EarlyExit;
    public bool RecordOnly;
    public int FinalLayer;
    public int Steps;
    public bool WarmStart;
    public double[]? Thresholds;
    public DiscrepancyMetric Metric;
    public ulong Seed;
    public InferenceRequest? Source;
    public int TokenCount;
    public readonly long[] Tokens;

    /// <summary>The latest head output (normalised, model dims): the comparison base, the warm start, and finally the answer.</summary>
    public readonly float[] Previous;
    public bool HasPrevious;

    public bool Done;
    public bool StoppedAtCap;
    public int ExitLayer;
    public int LayersRun;
    public int HeadCalls;
    public int DenoisingSteps;
    public int ExpertLayerSteps;
    public long PrefixTicks;
    public long LmTicks;
    public long HeadTicks;
    public double[]? Discrepancies;

    /// <summary>Takes over every field of <paramref name="other"/> (a row moving to another batch's row states).</summary>
    public void CopyFrom(RowState other)
    {
        Owner = other.Owner;
        Request = other.Request;
        EarlyExit = other.EarlyExit;
        RecordOnly = other.RecordOnly;
        FinalLayer = other.FinalLayer;
        Steps = other.Steps;
        WarmStart = other.WarmStart;
        Thresholds = other.Thresholds;
        Metric = other.Metric;
        Seed = other.Seed;
        Source = other.Source;
        TokenCount = other.TokenCount;
        other.Tokens.CopyTo(Tokens, 0);
        other.Previous.CopyTo(Previous, 0);
        HasPrevious = other.HasPrevious;
        Done = other.Done;
        StoppedAtCap = other.StoppedAtCap;
        ExitLayer = other.ExitLayer;
        LayersRun = other.LayersRun;
        HeadCalls = other.HeadCalls;
        DenoisingSteps = other.DenoisingSteps;
        ExpertLayerSteps = other.ExpertLayerSteps;
        PrefixTicks = other.PrefixTicks;
        LmTicks = other.LmTicks;
        HeadTicks = other.HeadTicks;
        Discrepancies = other.Discrepancies;
    }

    public void Reset(int request, InferenceRequest source)
    {
        Request = request;
        Source = source;
        HasPrevious = false;
        Done = false;
        StoppedAtCap = false;
        ExitLayer = -1;
        LayersRun = 0;
        HeadCalls = 0;
        DenoisingSteps = 0;
        ExpertLayerSteps = 0;
        PrefixTicks = 0;
        LmTicks = 0;
        HeadTicks = 0;
        Discrepancies = null;
        Thresholds = null;
    }
}
