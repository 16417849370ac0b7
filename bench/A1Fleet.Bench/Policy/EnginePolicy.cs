using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Tasks;

namespace A1Fleet.Bench.Policy;

/// <summary>
/// A model package driving the tabletop task through the engine, in process: when the plan runs out it sends the
/// observation (the model's cameras, state and the instruction) as one request, then executes the first
/// <paramref name="executeSteps"/> steps of the returned chunk, mapped onto joints by <see cref="ModelAdapter"/>
/// (joints the model has no dim for hold where the episode began); <paramref name="maxLayer"/> caps every request's depth.
/// An early-exit <paramref name="decode"/> without <paramref name="thresholds"/> runs the head at every exit and never
/// exits before the last (the discrepancies are recorded): what that decoding's chain gives when no exit is taken.
/// Collects every request's result.
/// </summary>
internal sealed class EnginePolicy(A1Engine engine, ModelSpec spec, int jointCount, DecodeSettings decode, ThresholdSet? thresholds, int executeSteps, int? maxLayer = null) : ITabletopPolicy
{
    private readonly ModelAdapter _adapter = new(jointCount, spec);
    private readonly Queue<float[]> _plan = new();
    private float[] _hold = [];
    private int _seed;

    public List<InferenceResult> Results { get; } = [];

    public void Begin(TabletopWorld world, ReadOnlySpan<float> joints)
    {
        // The world is the expert's to read; a model only gets its seed, for its noise.
        _seed = world.Seed;
        _hold = joints.ToArray();
        _plan.Clear();
    }

    public void Act(in TabletopObservation observation, Span<float> jointTargets)
    {
        if (_plan.Count == 0)
        {
            var result = engine.Run([new InferenceRequest
            {
                Instruction = observation.Instruction,
                State = observation.ModelState,
                Images = observation.Images,
                Decode = decode,
                Thresholds = thresholds,
                RecordDiscrepancies = thresholds is null && decode.Mode == ExitMode.EarlyExit,
                MaxLayer = maxLayer,
                Seed = ((ulong)(uint)_seed << 20) | (uint)observation.Step,
            }])[0];
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"episode {_seed}, step {observation.Step}: the engine failed: {result.Error}");
            }

            Results.Add(result);
            for (var s = 0; s < Math.Min(executeSteps, result.Chunk); s++)
            {
                _plan.Enqueue(result.Actions.AsSpan(s * result.ActionDim, result.ActionDim).ToArray());
            }
        }

        _adapter.ToJointTargets(_plan.Dequeue(), _hold, jointTargets);
    }
}
