using A1Fleet.Grains;

namespace A1Fleet.Motion;

/// <summary>
/// Maps an arm's joints onto the model's state vector and the model's action dims back onto joint targets,
/// by index: joint i is model dim i for i &lt; min(joints, dims).
/// <list type="bullet">
/// <item>State dims beyond the arm's joints get the midpoint of that dim's q01/q99, the value the model's
/// normaliser maps to zero, so they carry no signal.</item>
/// <item>State joints beyond the model's dims are not sent.</item>
/// <item>Arm joints beyond the model's action dims hold their last commanded position; action dims beyond
/// the arm's joints are dropped.</item>
/// </list>
/// The reference models are small and Franka-shaped (e.g. 8 state dims: 7 joints + gripper), so on a
/// dual-arm body they drive the left arm and its gripper and the right arm holds, and on a 6-axis Dobot the
/// 7th model dim lands on the gripper and is clamped to the gripper's range. A production model is trained
/// on the embodiment and matches its joints one to one, and then this adapter is the identity.
/// </summary>
public sealed class ModelAdapter
{
    private readonly float[] _stateFill;

    public ModelAdapter(int jointCount, ModelSpec model)
    {
        if (jointCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(jointCount), jointCount, "an arm has at least one joint");
        }

        if (model.StateDim <= 0 || model.ActionDim <= 0)
        {
            throw new ArgumentException($"model '{model.ModelId}' has state dim {model.StateDim} and action dim {model.ActionDim}; both must be positive");
        }

        JointCount = jointCount;
        StateDim = model.StateDim;
        ActionDim = model.ActionDim;
        _stateFill = new float[model.StateDim];
        for (var i = 0; i < _stateFill.Length; i++)
        {
            _stateFill[i] = i < model.StateQ01.Length && i < model.StateQ99.Length ? (model.StateQ01[i] + model.StateQ99[i]) / 2 : 0f;
        }
    }

    public int JointCount { get; }

    public int StateDim { get; }

    /// <summary>The model's valid action dims, as its spec declares them.</summary>
    public int ActionDim { get; }

    /// <summary>Joint positions into the model's state vector (length <see cref="StateDim"/>).</summary>
    public void WriteState(ReadOnlySpan<float> joints, Span<float> state)
    {
        Check(joints.Length, JointCount, "joint positions");
        Check(state.Length, StateDim, "model state");
        var shared = Math.Min(JointCount, StateDim);
        joints[..shared].CopyTo(state);
        _stateFill.AsSpan(shared).CopyTo(state[shared..]);
    }

    /// <summary>A new state vector for an observation (observations own their arrays).</summary>
    public float[] CreateState(ReadOnlySpan<float> joints)
    {
        var state = new float[StateDim];
        WriteState(joints, state);
        return state;
    }

    /// <summary>
    /// One step of model actions (of any width: chunks carry their own action dim) into joint targets;
    /// joints the model does not drive take <paramref name="holdTargets"/>.
    /// </summary>
    public void ToJointTargets(ReadOnlySpan<float> action, ReadOnlySpan<float> holdTargets, Span<float> jointTargets)
    {
        Check(holdTargets.Length, JointCount, "hold targets");
        Check(jointTargets.Length, JointCount, "joint targets");
        var shared = Math.Min(JointCount, action.Length);
        action[..shared].CopyTo(jointTargets);
        holdTargets[shared..].CopyTo(jointTargets[shared..]);
    }

    /// <summary>
    /// Executed joint targets back into the model's action dims, for recordings: dim i is joint i's target;
    /// a dim the arm has no joint for holds the value the state vector gives it (position actions: stay put),
    /// or 0 beyond the state.
    /// </summary>
    public void WriteAction(ReadOnlySpan<float> jointTargets, ReadOnlySpan<float> modelState, Span<float> action)
    {
        Check(jointTargets.Length, JointCount, "joint targets");
        Check(modelState.Length, StateDim, "model state");
        Check(action.Length, ActionDim, "model action");
        var shared = Math.Min(JointCount, ActionDim);
        jointTargets[..shared].CopyTo(action);
        for (var i = shared; i < ActionDim; i++)
        {
            action[i] = i < StateDim ? modelState[i] : 0f;
        }
    }

    private static void Check(int actual, int expected, string what)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{what}: expected {expected} values, got {actual}");
        }
    }
}
