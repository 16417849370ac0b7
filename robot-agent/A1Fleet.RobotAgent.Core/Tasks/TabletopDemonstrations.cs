using A1Fleet.Motion;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Recording;

namespace A1Fleet.RobotAgent.Tasks;

/// <summary>
/// Records the scripted expert's demonstrations of the tabletop task family through the agent's LeRobot recorder,
/// the source of truth training data is exported from. Only episodes the expert solves are recorded (each seed is
/// run once unrecorded to find out: runs are deterministic from the seed), ending
/// <see cref="HoldAfterSuccess"/> periods after success so a policy also learns to stay put.
/// </summary>
public static class TabletopDemonstrations
{
    public const string DatasetId = "tabletop";
    public const int HoldAfterSuccess = 5;
    public const double MaxEpisodeSeconds = 8;

    /// <summary>
    /// Runs the expert on every seed and records the solved episodes into <paramref name="recorder"/>'s dataset
    /// <c>tabletop-&lt;embodiment&gt;</c>; returns every seed's result. Dispose the recorder to finish writing.
    /// </summary>
    public static IReadOnlyList<TabletopEpisodeResult> Record(EpisodeRecorder recorder, EmbodimentProfile profile, int imageSize, IEnumerable<int> seeds,
        CancellationToken cancellationToken = default) =>
        Record(recorder, profile, TabletopEpisodeRunner.DemonstrationSpec(profile, DatasetId, imageSize), seeds, cancellationToken);

    /// <summary>
    /// The same demonstrations in a model's terms (its cameras and sizes, its state and action dims through
    /// <see cref="Control.ModelAdapter"/>), into the dataset <c>&lt;model id&gt;-&lt;embodiment&gt;</c>: what a model's
    /// thresholds are calibrated on. The same seeds give the same episodes as the training data.
    /// </summary>
    public static IReadOnlyList<TabletopEpisodeResult> Record(EpisodeRecorder recorder, EmbodimentProfile profile, Grains.ModelSpec spec, IEnumerable<int> seeds,
        CancellationToken cancellationToken = default) =>
        RecordRuns(recorder, profile, spec, seeds.Select(seed => (seed, (int?)null)), cancellationToken);

    /// <summary>
    /// Contrastive demonstrations: every seed's scene once per block (<see cref="TabletopWorld.BlockCount"/> runs: the
    /// same blocks, start pose, texture and seeded skill, the instruction naming each block in turn), so that the same
    /// first image and state lead to different motions and only the instruction tells them apart. Solved runs are
    /// recorded as in <see cref="Record(EpisodeRecorder, EmbodimentProfile, int, IEnumerable{int}, CancellationToken)"/>;
    /// returns every run's result, the seed's blocks in order.
    /// </summary>
    public static IReadOnlyList<TabletopEpisodeResult> RecordEveryBlock(EpisodeRecorder recorder, EmbodimentProfile profile, int imageSize, IEnumerable<int> seeds,
        CancellationToken cancellationToken = default) =>
        RecordRuns(recorder, profile, TabletopEpisodeRunner.DemonstrationSpec(profile, DatasetId, imageSize),
            seeds.SelectMany(seed => Enumerable.Range(0, TabletopWorld.BlockCount).Select(block => (seed, (int?)block))), cancellationToken);

    private static List<TabletopEpisodeResult> RecordRuns(EpisodeRecorder recorder, EmbodimentProfile profile, Grains.ModelSpec spec,
        IEnumerable<(int Seed, int? Target)> runs, CancellationToken cancellationToken)
    {
        var runner = new TabletopEpisodeRunner(profile, spec, MaxEpisodeSeconds, HoldAfterSuccess);
        var recording = new ArmRecording(recorder, "scripted-expert", profile.Embodiment, profile.ControlHz, spec, [.. profile.Joints.Select(j => j.Name)]);
        var results = new List<TabletopEpisodeResult>();
        foreach (var (seed, target) in runs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var dry = runner.Run(seed, new ScriptedExpert(profile), target: target);
            results.Add(dry);
            if (dry.Succeeded)
            {
                runner.Run(seed, new ScriptedExpert(profile), recording, target: target);
            }
        }

        return results;
    }

    /// <summary>
    /// DAgger's aggregation step: on every seed <paramref name="createPolicy"/>'s policy drives the arm (a trained model
    /// sees what a model sees) while a scripted expert (<see cref="ScriptedExpert.Labeller"/>) watches the same observations, and the episode is recorded with
    /// the expert's command as the action: what the expert would have done in the states the policy reaches, its
    /// mistakes included. Into the same dataset as <see cref="Record(EpisodeRecorder, EmbodimentProfile, int, IEnumerable{int}, CancellationToken)"/>
    /// (robot id <paramref name="robotId"/>); episodes end <see cref="HoldAfterSuccess"/> periods after success or at
    /// <see cref="MaxEpisodeSeconds"/>. Returns the driving policy's results.
    /// </summary>
    public static IReadOnlyList<TabletopEpisodeResult> RecordCorrections(EpisodeRecorder recorder, EmbodimentProfile profile, int imageSize, IEnumerable<int> seeds,
        Func<ITabletopPolicy> createPolicy, string robotId, CancellationToken cancellationToken = default) =>
        RecordCorrections(recorder, profile, imageSize, seeds.Select(seed => (seed, (int?)null)), createPolicy, robotId, cancellationToken);

    /// <summary>
    /// <see cref="RecordCorrections(EpisodeRecorder, EmbodimentProfile, int, IEnumerable{int}, Func{ITabletopPolicy}, string, CancellationToken)"/>
    /// on runs of a seed and the block the instruction names (null: the seed's own), as
    /// <see cref="RecordEveryBlock"/> runs them: DAgger on contrastive demonstrations.
    /// </summary>
    public static IReadOnlyList<TabletopEpisodeResult> RecordCorrections(EpisodeRecorder recorder, EmbodimentProfile profile, int imageSize,
        IEnumerable<(int Seed, int? Target)> runs, Func<ITabletopPolicy> createPolicy, string robotId, CancellationToken cancellationToken = default)
    {
        var spec = TabletopEpisodeRunner.DemonstrationSpec(profile, DatasetId, imageSize);
        var runner = new TabletopEpisodeRunner(profile, spec, MaxEpisodeSeconds, HoldAfterSuccess);
        var recording = new ArmRecording(recorder, robotId, profile.Embodiment, profile.ControlHz, spec, [.. profile.Joints.Select(j => j.Name)]);
        var results = new List<TabletopEpisodeResult>();
        foreach (var (seed, target) in runs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            results.Add(runner.Run(seed, createPolicy(), ScriptedExpert.Labeller(profile), recording, target: target));
        }

        return results;
    }
}
