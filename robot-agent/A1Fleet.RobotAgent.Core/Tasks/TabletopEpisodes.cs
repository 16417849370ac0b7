using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Control;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tasks;

/// <summary>Which simulated task an agent's simulated arm runs in its world (<see cref="AgentOptions.SimulatedTask"/>).</summary>
public enum SimulatedTask
{
    /// <summary>No task world: the camera shows a table with a few fixed blocks, and nothing decides success.</summary>
    None = 0,

    /// <summary>The tabletop task family (<see cref="TabletopWorld"/>) in episodes: <see cref="TabletopEpisodes"/>.</summary>
    Tabletop = 1,
}

/// <summary>One episode as the world ended it.</summary>
/// <param name="Episode">1 for the first episode that ended on this arm.</param>
/// <param name="Seed">The episode's seed (arm start pose, blocks, table texture).</param>
/// <param name="Succeeded">The world's decision (<see cref="TabletopWorld.Succeeded"/>), never the policy's.</param>
/// <param name="Steps">Control periods the episode ran (e-stopped periods not counted).</param>
public sealed record TabletopEpisodeOutcome(long Episode, int Seed, string Instruction, bool Succeeded, int Steps);

/// <summary>
/// The tabletop task family run on an agent's simulated arm, one episode after another, for as long as the arm's task
/// is one of the family's instructions ("touch the red block", "push the blue block to the left|right"): the task the
/// fleet assigned is the instruction, so the model is asked exactly what the world judges.
/// <para>Each episode has its own seed (from <see cref="FirstSeed"/> on, far from the training demonstrations' seeds,
/// which start at 0): the simulator resets the arm to that seed's start pose and builds the scene of that seed, with the
/// skill the instruction names and the named block as the target (seeds whose three blocks do not include the named
/// colour are skipped), and the camera shows that scene: as <see cref="TabletopEpisodeRunner"/> sets up an episode of
/// the same seed, so the policy sees the world it was trained on. The world follows the arm every control period; an
/// episode ends when the world says it succeeded or after <see cref="MaxSteps"/> periods (a failure), and the next
/// begins at once. The reset is a simulator's reset (the arm is placed, not driven, at its start pose; a real arm
/// would drive there): the control loop drops what it planned and takes up from the new pose.</para>
/// <para>A new task ends the episode in progress without an outcome; a task outside the family runs without episodes
/// (and without blocks); an e-stop, a local stop or no task pauses the episode's clock. Not thread-safe: the control
/// loop's tick calls it (counts are read through the callback's <see cref="Diagnostics.AgentMetrics"/>).</para>
/// </summary>
public sealed class TabletopEpisodes : ITaskWorld, ITableObjects
{
    /// <summary>Seconds an episode may run before it fails: as the policy bench and the demonstrations run them.</summary>
    public const double DefaultEpisodeSeconds = 8;

    /// <summary>The lowest episode seed: the demonstrations use seeds from 0, the policy bench evaluates from 1 000 000.</summary>
    public const int FirstSeed = 2_000_000;

    private readonly SimulatedArm _arm;
    private readonly SimulatedCamera _camera;
    private readonly Action<TabletopEpisodeOutcome>? _ended;
    private readonly float[] _joints;
    private int _nextSeed;
    private string? _instruction;
    private TabletopSkill _skill;
    private BlockColour _colour;
    private TabletopWorld? _world;
    private int _steps;
    private long _episodes;

    /// <param name="seed">The arm's seed: its episodes' seeds follow from it, so two arms see different scenes.</param>
    /// <param name="ended">Called on the tick with each episode's outcome.</param>
    public TabletopEpisodes(SimulatedArm arm, SimulatedCamera camera, int seed, double episodeSeconds = DefaultEpisodeSeconds,
        Action<TabletopEpisodeOutcome>? ended = null)
    {
        if (!(episodeSeconds > 0) || !double.IsFinite(episodeSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(episodeSeconds), episodeSeconds, "an episode lasts a positive number of seconds");
        }

        _arm = arm;
        _camera = camera;
        _ended = ended;
        _joints = new float[arm.JointCount];
        MaxSteps = Math.Max(1, (int)Math.Round(episodeSeconds * arm.ControlHz));
        _nextSeed = FirstSeed + (int)((uint)seed % 100_000_000u);
    }

    /// <summary>Control periods after which an episode that has not succeeded fails.</summary>
    public int MaxSteps { get; }

    /// <summary>The episode in progress; null when the task is none of the family's (or before the first).</summary>
    public TabletopWorld? World => _world;

    /// <summary>Periods the episode in progress has run.</summary>
    public int Steps => _steps;

    /// <summary>The blocks of the episode in progress, where they are now (none without one).</summary>
    public ReadOnlySpan<TableBlock> Blocks => _world is { } world ? world.Blocks : [];

    /// <summary>
    /// Reads an instruction of the family (case and surrounding spaces aside): what to do and with which block's colour.
    /// False for any other instruction.
    /// </summary>
    public static bool TryParse(string instruction, out TabletopSkill skill, out BlockColour colour)
    {
        var text = instruction.Trim();
        foreach (var s in Enum.GetValues<TabletopSkill>())
        {
            foreach (var c in Enum.GetValues<BlockColour>())
            {
                if (string.Equals(text, TabletopWorld.InstructionFor(s, c), StringComparison.OrdinalIgnoreCase))
                {
                    (skill, colour) = (s, c);
                    return true;
                }
            }
        }

        (skill, colour) = (default, default);
        return false;
    }

    public bool AfterPeriod(string? instruction, bool running)
    {
        var world = _world;
        if (world is not null)
        {
            // Contacts happen whenever the arm moves (a controlled stop too); only a running episode's clock counts.
            _arm.ReadState(_joints);
            world.Step(_joints);
        }

        if (!running || instruction is null)
        {
            return false;
        }

        if (!string.Equals(instruction, _instruction, StringComparison.Ordinal))
        {
            // A new task: the episode in progress ends without an outcome.
            _instruction = instruction;
            _world = null;
            _steps = 0;
            if (!TryParse(instruction, out _skill, out _colour))
            {
                return false;
            }

            Begin();
            return true;
        }

        if (world is null)
        {
            return false;
        }

        _steps++;
        if (!world.Succeeded && _steps < MaxSteps)
        {
            return false;
        }

        _ended?.Invoke(new TabletopEpisodeOutcome(++_episodes, world.Seed, world.Instruction, world.Succeeded, _steps));
        Begin();
        return true;
    }

    private void Begin()
    {
        var profile = _arm.Profile;
        while (true)
        {
            var seed = _nextSeed++;
            _arm.Reset(seed);
            _arm.ReadState(_joints);

            // The overrides do not change what the seed draws, so the scene is the same with the named block as the target.
            var target = IndexOf(new TabletopWorld(profile, seed, _joints).Blocks, _colour);
            if (target < 0)
            {
                continue;
            }

            _world = new TabletopWorld(profile, seed, _joints, _skill, target);
            _steps = 0;
            _camera.ShowScene(seed, this);
            return;
        }
    }

    private static int IndexOf(ReadOnlySpan<TableBlock> blocks, BlockColour colour)
    {
        for (var i = 0; i < blocks.Length; i++)
        {
            if (blocks[i].Colour == colour)
            {
                return i;
            }
        }

        return -1;
    }
}
