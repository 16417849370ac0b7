using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;

namespace A1Fleet.RobotAgent.Tasks;

/// <summary>What a policy sees on one tick: the arm's joints, the model's state vector and camera images, the instruction.</summary>
/// <param name="Joints">Measured joint positions (a copy the policy may keep).</param>
/// <param name="ModelState">The joints through <see cref="ModelAdapter"/>, as a model receives them.</param>
/// <param name="Images">The model's cameras, RGB8 HWC in the model's camera order.</param>
/// <param name="Step">Control periods since the episode began.</param>
public readonly record struct TabletopObservation(float[] Joints, float[] ModelState, byte[][] Images, string Instruction, int Step);

/// <summary>
/// Something that drives an arm through a tabletop episode: the scripted expert or a model. Only the expert may read
/// the world it is given at <see cref="Begin"/>; a model policy sees what a model sees, the observations.
/// </summary>
public interface ITabletopPolicy
{
    void Begin(TabletopWorld world, ReadOnlySpan<float> joints);

    /// <summary>Joint targets (one per joint, robot units) for this control period.</summary>
    void Act(in TabletopObservation observation, Span<float> jointTargets);
}

/// <param name="Seed">The episode's seed (arm start, blocks, instruction, table texture).</param>
/// <param name="Steps">Control periods run.</param>
/// <param name="SuccessStep">The period success was first reached; null when it never was.</param>
public sealed record TabletopEpisodeResult(int Seed, string Instruction, TabletopSkill Skill, bool Succeeded, int Steps, int? SuccessStep, double SimulatedSeconds);

/// <summary>
/// Runs tabletop episodes on a simulated arm of one profile, for the cameras and state of one model: each period the
/// policy's joint targets pass the agent's <see cref="MotionLimiter"/> (as on a real arm), the arm moves one period,
/// then the world advances. Episodes end <paramref name="holdAfterSuccess"/> periods after success or at
/// <paramref name="maxSeconds"/>. With an <see cref="ArmRecording"/> every period is recorded as the control loop
/// records it: the model state, the executed command mapped to the model's action dims, the images. With a
/// <c>labeller</c> as well (DAgger: a model drives, the scripted expert says what it would command) the recorded
/// action is instead the labeller's command, its targets through a limiter of its own: the command stream the
/// labeller would have sent, from the states the driving policy visits.
/// </summary>
public sealed class TabletopEpisodeRunner(EmbodimentProfile profile, ModelSpec model, double maxSeconds = 8, int holdAfterSuccess = 0)
{
    public EmbodimentProfile Profile { get; } = profile;

    public ModelSpec Model { get; } = model;

    public int MaxSteps { get; } = Math.Max(1, (int)Math.Round(maxSeconds * profile.ControlHz));

    public TabletopEpisodeResult Run(int seed, ITabletopPolicy policy, ArmRecording? recording = null, TabletopSkill? skill = null, int? target = null) =>
        Run(seed, policy, null, recording, skill, target);

    /// <param name="labeller">
    /// When given, acts on every observation too (it never drives the arm) and its limited command is what
    /// <paramref name="recording"/> records as the action.
    /// </param>
    public TabletopEpisodeResult Run(int seed, ITabletopPolicy policy, ITabletopPolicy? labeller, ArmRecording? recording = null, TabletopSkill? skill = null,
        int? target = null)
    {
        var arm = new SimulatedArm(Profile, seed);
        var joints = arm.ReadState();
        var world = new TabletopWorld(Profile, seed, joints, skill, target);
        var camera = new SimulatedCamera(Profile, Model.Cameras, seed, withBlocks: false);
        var adapter = new ModelAdapter(Profile.JointCount, Model);
        var limiter = new MotionLimiter(Profile.Limits, Profile.ControlHz);
        limiter.Reset(joints);
        var targets = new float[Profile.JointCount];
        var command = new float[Profile.JointCount];
        var labelLimiter = new MotionLimiter(Profile.Limits, Profile.ControlHz);
        labelLimiter.Reset(joints);
        var labelTargets = new float[Profile.JointCount];
        var label = new float[Profile.JointCount];
        policy.Begin(world, joints);
        labeller?.Begin(world, joints);
        recording?.Open(world.Instruction);
        int? successStep = null;
        var step = 0;
        try
        {
            while (step < MaxSteps)
            {
                arm.ReadState(joints);
                var state = adapter.CreateState(joints);
                var images = new byte[Model.Cameras.Length][];
                for (var c = 0; c < images.Length; c++)
                {
                    images[c] = new byte[Model.Cameras[c].Height * Model.Cameras[c].Width * 3];
                }

                camera.Render(joints, images, world.Blocks);
                var observation = new TabletopObservation((float[])joints.Clone(), state, images, world.Instruction, step);
                policy.Act(observation, targets);
                limiter.Step(targets, command);
                if (labeller is not null)
                {
                    labeller.Act(observation, labelTargets);
                    labelLimiter.Step(labelTargets, label);
                }

                arm.Command(command);
                if (recording is not null)
                {
                    var action = new float[adapter.ActionDim];
                    adapter.WriteAction(labeller is null ? command : label, state, action);
                    recording.Add(state, action, images);
                }

                step++;
                arm.ReadState(joints);
                world.Step(joints);
                if (world.Succeeded)
                {
                    successStep ??= step;
                    if (step - successStep >= holdAfterSuccess)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            recording?.Close();
        }

        return new TabletopEpisodeResult(seed, world.Instruction, world.Skill, world.Succeeded, step, successStep, step / Profile.ControlHz);
    }

    /// <summary>
    /// The data layout demonstrations are recorded in when no model exists yet: every joint is a state and an action
    /// dim (q01/q99 the joint limits), one front camera of <paramref name="imageSize"/> pixels square.
    /// </summary>
    public static ModelSpec DemonstrationSpec(EmbodimentProfile profile, string datasetId, int imageSize) =>
        new(datasetId, "1", profile.JointCount, profile.JointCount, 1, [new CameraInfo("front", imageSize, imageSize)],
            [.. profile.Joints.Select(j => j.Lower)], [.. profile.Joints.Select(j => j.Upper)], 0, []);
}
