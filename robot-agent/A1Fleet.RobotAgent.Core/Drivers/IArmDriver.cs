using A1Fleet.Grains;
using A1Fleet.Motion;

namespace A1Fleet.RobotAgent.Drivers;

/// <summary>
/// One arm (or a pair of arms on one body) as the control loop sees it: joint positions in robot units
/// (radians for revolute joints, metres or a 0..1 ratio for grippers), their limits and the rate at
/// which the arm takes policy actions. Real drivers implement the vendor protocol behind the same calls.
/// </summary>
public interface IArmDriver
{
    Embodiment Embodiment { get; }

    /// <summary>Every commanded degree of freedom, grippers included.</summary>
    int JointCount { get; }

    JointLimits JointLimits { get; }

    /// <summary>Policy actions per second; the control loop ticks at this rate.</summary>
    double ControlHz { get; }

    /// <summary>A copy of the measured joint positions (for observations; allocates).</summary>
    float[] ReadState();

    /// <summary>The measured joint positions into <paramref name="destination"/> (the per-tick path; no allocation).</summary>
    void ReadState(Span<float> destination);

    /// <summary>Position targets for one control period. Callers clamp to <see cref="JointLimits"/> first.</summary>
    void Command(ReadOnlySpan<float> jointTargets);

    /// <summary>
    /// Position targets <paramref name="interval"/> after the previous command, less than one control period: the
    /// first step of a controlled stop the loop starts between its ticks (an e-stop heard mid-period). Velocities and
    /// accelerations are meant over <paramref name="interval"/>; the commands after it are one period apart again.
    /// </summary>
    void Command(ReadOnlySpan<float> jointTargets, TimeSpan interval);

    /// <summary>Stop where the arm is for one control period.</summary>
    void Hold();
}
