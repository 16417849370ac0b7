using A1Fleet.Grains;

namespace A1Fleet.Motion;

/// <summary>What a simulated arm of one kind is: joints with their limits, arms, control rate and tracking lag.</summary>
public sealed class EmbodimentProfile
{
    public EmbodimentProfile(Embodiment embodiment, string description, double controlHz, IReadOnlyList<JointSpec> joints, IReadOnlyList<ArmLayout> arms,
        double trackingTimeConstantSeconds = 0.05)
    {
        if (controlHz is <= 0 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(controlHz), controlHz, "a control rate must be within (0, 1000] Hz");
        }

        Embodiment = embodiment;
        Description = description;
        ControlHz = controlHz;
        Joints = joints;
        Arms = arms;
        TrackingTimeConstantSeconds = trackingTimeConstantSeconds;
        Limits = new JointLimits([.. joints.Select(j => j.Lower)], [.. joints.Select(j => j.Upper)], [.. joints.Select(j => j.MaxVelocity)], [.. joints.Select(j => j.MaxAcceleration)]);
    }

    public Embodiment Embodiment { get; }

    /// <summary>The hardware this profile stands for, and where its numbers come from.</summary>
    public string Description { get; }

    public double ControlHz { get; }

    public IReadOnlyList<JointSpec> Joints { get; }

    public IReadOnlyList<ArmLayout> Arms { get; }

    /// <summary>First-order lag of the simulated position controller.</summary>
    public double TrackingTimeConstantSeconds { get; }

    public JointLimits Limits { get; }

    public int JointCount => Joints.Count;

    public static EmbodimentProfile For(Embodiment embodiment) => embodiment switch
    {
        Embodiment.Franka => EmbodimentProfiles.Franka,
        Embodiment.AgiBot => EmbodimentProfiles.AgiBot,
        Embodiment.OpenArm => EmbodimentProfiles.OpenArm,
        Embodiment.Dobot => EmbodimentProfiles.Dobot,
        _ => throw new ArgumentOutOfRangeException(nameof(embodiment), embodiment, "no simulated profile for this embodiment (franka, agibot, openarm, dobot)"),
    };
}
