using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>The real simulated arm, with every command it receives written down (tick by tick, null for a hold).</summary>
internal sealed class RecordingArm(SimulatedArm arm) : IArmDriver
{
    public SimulatedArm Arm { get; } = arm;

    public List<float[]?> Commands { get; } = [];

    public Embodiment Embodiment => Arm.Embodiment;

    public int JointCount => Arm.JointCount;

    public JointLimits JointLimits => Arm.JointLimits;

    public double ControlHz => Arm.ControlHz;

    public float[] ReadState() => Arm.ReadState();

    public void ReadState(Span<float> destination) => Arm.ReadState(destination);

    public void Command(ReadOnlySpan<float> jointTargets)
    {
        Commands.Add(jointTargets.ToArray());
        Arm.Command(jointTargets);
    }

    public void Hold()
    {
        Commands.Add(null);
        Arm.Hold();
    }
}
