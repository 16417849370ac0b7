using A1Fleet.Motion;
using A1Fleet.RobotAgent.Tests.Support;

namespace A1Fleet.Motion.Tests;

public sealed class ModelAdapterTests
{
    [Fact]
    public void WriteState_ModelWiderThanArm_PadsWithTheQuantileMidpoint()
    {
        // A 7-joint Dobot on an 8-dim Franka-shaped model: dim 7 is the model's gripper, which the Dobot does not fill.
        var model = TestModels.Spec(stateDim: 8);
        var adapter = new ModelAdapter(jointCount: 7, model);
        float[] joints = [1, 2, 3, 4, 5, 6, 7];

        var state = adapter.CreateState(joints);

        Assert.Equal([1, 2, 3, 4, 5, 6, 7], state[..7]);
        Assert.Equal((model.StateQ01[7] + model.StateQ99[7]) / 2, state[7]);
    }

    [Fact]
    public void WriteState_ModelNarrowerThanArm_SendsTheFirstJoints()
    {
        var adapter = new ModelAdapter(jointCount: 16, TestModels.Spec(stateDim: 8));
        var joints = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();

        var state = adapter.CreateState(joints);

        Assert.Equal(joints[..8], state);
    }

    [Fact]
    public void ToJointTargets_ModelNarrowerThanArm_ExtraJointsHold()
    {
        var adapter = new ModelAdapter(jointCount: 16, TestModels.Spec(actionDim: 8));
        var action = Enumerable.Repeat(0.5f, 8).ToArray();
        var hold = Enumerable.Range(0, 16).Select(i => -(float)i).ToArray();
        var targets = new float[16];

        adapter.ToJointTargets(action, hold, targets);

        Assert.Equal(action, targets[..8]);
        Assert.Equal(hold[8..], targets[8..]);
    }

    [Fact]
    public void ToJointTargets_ModelWiderThanArm_ExtraDimsDropped()
    {
        var adapter = new ModelAdapter(jointCount: 7, TestModels.Spec(actionDim: 8));
        float[] action = [1, 2, 3, 4, 5, 6, 7, 99];
        var targets = new float[7];

        adapter.ToJointTargets(action, new float[7], targets);

        Assert.Equal([1, 2, 3, 4, 5, 6, 7], targets);
    }

    [Fact]
    public void WriteState_WrongJointCount_ThrowsNamingTheVector()
    {
        var adapter = new ModelAdapter(jointCount: 8, TestModels.Spec());

        var ex = Assert.Throws<ArgumentException>(() => adapter.WriteState(new float[7], new float[8]));
        Assert.Contains("joint positions", ex.Message, StringComparison.Ordinal);
    }
}
