using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tasks;

/// <summary>What an instruction asks to do with the block it names.</summary>
public enum TabletopSkill
{
    /// <summary>Lower the closed gripper onto the block ("touch the red block").</summary>
    Touch,

    /// <summary>Push the block towards the left edge of the front image ("push the red block to the left").</summary>
    PushLeft,

    /// <summary>Push the block towards the right edge of the front image ("push the red block to the right").</summary>
    PushRight,
}

/// <summary>
/// The simulated world of the tabletop task family (issue 12): a few coloured blocks at seeded random places on the
/// table, an instruction naming one of them and what to do with it, and success decided here, by the world, from
/// where the arm's gripper is (<see cref="ArmSketch.Tip"/>). Block positions reach a policy only through the camera
/// images: the state is the arm's joints.
/// <para>Contact model: an open gripper is above the blocks and touches nothing; a closed one (opening below
/// <see cref="LoweredOpening"/>) is down on the table and pushes: a tip that moves into a block's footprint (the
/// block's square grown by <see cref="TipRadius"/>) from outside moves the block out along the axis of least
/// overlap. A gripper lowered onto a block from above stays on it without pushing: that is a touch.</para>
/// <para>Success: touch, the lowered gripper within the block's square; push, the block's centre at least
/// <see cref="PushDistance"/> from where it started in the named direction. Once reached, success stays.</para>
/// Not thread-safe: one episode, one caller.
/// </summary>
public sealed class TabletopWorld
{
    public const int BlockCount = 3;
    public const float BlockSize = 0.09f;
    public const float TipRadius = 0.025f;
    public const float PushDistance = 0.15f;
    public const float LoweredOpening = 0.25f;
    private const float ContactSlack = 1e-3f;

    /// <summary>Where blocks are placed (table coordinates): within every profile's reach, with room to push either way.</summary>
    public const float MinX = 0.3f, MaxX = 0.7f, MinY = 0.35f, MaxY = 0.6f;

    private readonly EmbodimentProfile _profile;
    private readonly ArmLayout _arm;
    private readonly TableBlock[] _blocks;
    private readonly float _targetStartX;
    private float _tipX;
    private float _tipY;

    /// <summary>A fresh episode from <paramref name="seed"/>, the arm's gripper where <paramref name="joints"/> put it.</summary>
    /// <param name="skill">Overrides the seeded skill (the same scene with another instruction); null keeps it.</param>
    /// <param name="target">Overrides the seeded target block (index into <see cref="Blocks"/>); null keeps it.</param>
    public TabletopWorld(EmbodimentProfile profile, int seed, ReadOnlySpan<float> joints, TabletopSkill? skill = null, int? target = null)
    {
        _profile = profile;
        _arm = profile.Arms[0];
        Seed = seed;
        var random = new Random(seed);
        var colours = Enum.GetValues<BlockColour>().OrderBy(_ => random.Next()).Take(BlockCount).ToArray();
        _blocks = new TableBlock[BlockCount];
        var placed = 0;
        while (placed < BlockCount)
        {
            // Rejection sampling for blocks at least two block sizes apart (centre to centre), so none starts touching
            // another; a layout that leaves no room for the next block starts over.
            var x = MinX + ((MaxX - MinX) * (float)random.NextDouble());
            var y = MinY + ((MaxY - MinY) * (float)random.NextDouble());
            var free = true;
            for (var i = 0; i < placed; i++)
            {
                free &= MathF.Max(MathF.Abs(_blocks[i].X - x), MathF.Abs(_blocks[i].Y - y)) >= 2 * BlockSize;
            }

            if (free)
            {
                _blocks[placed] = new TableBlock(colours[placed], x, y, BlockSize);
                placed++;
            }
            else if (random.Next(50) == 0)
            {
                placed = 0;
            }
        }

        var seededTarget = random.Next(BlockCount);
        var seededSkill = (TabletopSkill)random.Next(3);
        Target = target ?? seededTarget;
        Skill = skill ?? seededSkill;
        if (Target is < 0 or >= BlockCount)
        {
            throw new ArgumentOutOfRangeException(nameof(target), target, $"a block index is within 0..{BlockCount - 1}");
        }

        _targetStartX = _blocks[Target].X;
        Instruction = InstructionFor(Skill, _blocks[Target].Colour);
        (_tipX, _tipY, _) = ArmSketch.Tip(profile, _arm, joints);
    }

    public int Seed { get; }

    public TabletopSkill Skill { get; }

    /// <summary>Index of the block the instruction names in <see cref="Blocks"/>.</summary>
    public int Target { get; }

    public string Instruction { get; }

    /// <summary>The blocks as they are now (copy them to keep them: they move).</summary>
    public ReadOnlySpan<TableBlock> Blocks => _blocks;

    public TableBlock TargetBlock => _blocks[Target];

    /// <summary>The block's x when the episode began (push success is measured from it).</summary>
    public float TargetStartX => _targetStartX;

    public bool Succeeded { get; private set; }

    /// <summary>The profile's first arm: the one the task is for.</summary>
    public ArmLayout Arm => _arm;

    public static string InstructionFor(TabletopSkill skill, BlockColour colour)
    {
        var name = colour.ToString().ToLowerInvariant();
        return skill switch
        {
            TabletopSkill.Touch => $"touch the {name} block",
            TabletopSkill.PushLeft => $"push the {name} block to the left",
            TabletopSkill.PushRight => $"push the {name} block to the right",
            _ => throw new ArgumentOutOfRangeException(nameof(skill), skill, "unknown skill"),
        };
    }

    /// <summary>Advances the world to the arm's measured joints after one control period: contacts, then success.</summary>
    public void Step(ReadOnlySpan<float> joints)
    {
        var (x, y, opening) = ArmSketch.Tip(_profile, _arm, joints);
        var lowered = opening < LoweredOpening;
        if (lowered)
        {
            for (var i = 0; i < _blocks.Length; i++)
            {
                var b = _blocks[i];
                var reach = (b.Size / 2) + TipRadius;
                // A tip left just touching by the last push counts as outside (float rounding puts it a hair inside).
                var wasOutside = MathF.Max(MathF.Abs(_tipX - b.X), MathF.Abs(_tipY - b.Y)) >= reach - ContactSlack;
                var overlapX = reach - MathF.Abs(x - b.X);
                var overlapY = reach - MathF.Abs(y - b.Y);
                if (wasOutside && overlapX > 0 && overlapY > 0)
                {
                    // Out along the axis of least overlap, to just touching the tip.
                    _blocks[i] = overlapX < overlapY
                        ? b with { X = Math.Clamp(b.X + (MathF.Sign(b.X - x) * overlapX), 0f, 1f) }
                        : b with { Y = Math.Clamp(b.Y + (MathF.Sign(b.Y - y) * overlapY), 0f, 1f) };
                }
            }
        }

        _tipX = x;
        _tipY = y;
        var target = _blocks[Target];
        Succeeded |= Skill switch
        {
            TabletopSkill.Touch => lowered && MathF.Max(MathF.Abs(x - target.X), MathF.Abs(y - target.Y)) <= target.Size / 2,
            TabletopSkill.PushLeft => target.X <= _targetStartX - PushDistance,
            TabletopSkill.PushRight => target.X >= _targetStartX + PushDistance,
            _ => false,
        };
    }
}
