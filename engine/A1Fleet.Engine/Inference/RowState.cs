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
