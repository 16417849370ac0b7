using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tests.Control;

/// <summary>The real simulated arm, with every command it receives written down (tick by tick, null for a hold).</summary>
internal sealed class RecordingArm(SimulatedArm arm) : IArmDriver
{
    public SimulatedArm Arm { get; } = arm;

    public List<float[]?> Commands { get; } = [];

    /// <summary>For each entry of <see cref="Commands"/>: the interval it was sent for (a period, or less for a stop started between ticks).</summary>
    public List<TimeSpan> Intervals { get; } = [];

    public Embodiment Embodiment => Arm.Embodiment;

    public int JointCount => Arm.JointCount;

    public JointLimits JointLimits => Arm.JointLimits;

    public double ControlHz => Arm.ControlHz;

    public float[] ReadState() => Arm.ReadState();

    public void ReadState(Span<float> destination) => Arm.ReadState(destination);

    public void Command(ReadOnlySpan<float> jointTargets)
    {
        Commands.Add(jointTargets.ToArray());
        Intervals.Add(TimeSpan.FromSeconds(1 / ControlHz));
        Arm.Command(jointTargets);
    }

    public void Command(ReadOnlySpan<float> jointTargets, TimeSpan interval)
    {
        Commands.Add(jointTargets.ToArray());
        Intervals.Add(interval);
        Arm.Command(jointTargets, interval);
    }

    public void Hold()
    {
        Commands.Add(null);
        Intervals.Add(TimeSpan.FromSeconds(1 / ControlHz));
        Arm.Hold();
    }
}
