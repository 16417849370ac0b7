using System.Globalization;
using A1Fleet.EarlyExit;
using A1Fleet.Engine;
using A1Fleet.Engine.Inference;
using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Drivers;
using A1Fleet.RobotAgent.Tasks;

namespace A1Fleet.Bench.Policy;

/// <summary>
/// <c>policy-episodes --package PKG [--first-seed 1000000] [--episodes 30] [--execute-steps 1000] [--max-layer L] [--decoding NAME]</c>:
/// one model package at full depth (or stopped at a fixed exit; an FM with another decoding's chain, no exit taken) in closed loop, one line per episode saying how it went (for finding out why episodes fail): the
/// skill, success, how close the gripper came to the named block and to the others, whether the named block or
/// another one moved, and how long the gripper was lowered.
/// </summary>
internal static class PolicyEpisodesCommand
{
    public static int Run(IReadOnlyList<string> args)
    {
        string? Value(string name)
        {
            var i = args.ToList().IndexOf(name);
            return i >= 0 && i + 1 < args.Count ? args[i + 1] : null;
        }

        var package = Value("--package") ?? PolicyArgs.DefaultMlp;
        var firstSeed = int.Parse(Value("--first-seed") ?? PolicyBenchmark.FirstEvaluationSeed.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var episodes = int.Parse(Value("--episodes") ?? "30", CultureInfo.InvariantCulture);
        var executeSteps = int.Parse(Value("--execute-steps") ?? "1000", CultureInfo.InvariantCulture);
        int? maxLayer = Value("--max-layer") is { } layer ? int.Parse(layer, CultureInfo.InvariantCulture) : null;
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        using var engine = A1Engine.Load(package, new EngineOptions { MaxBatchSize = 16 });
        if (maxLayer >= engine.Layers)
        {
            Console.Error.WriteLine($"--max-layer {maxLayer}: {package} has LM layers 0..{engine.Layers - 1}");
            return BenchCommandLine.Usage;
        }

        var decoding = Value("--decoding") is { } name && Decodings.TryParse(name, out var parsed) ? parsed : Decoding.FullK10;
        if (!engine.IsFlowMatching && decoding != Decoding.FullK10)
        {
            Console.Error.WriteLine($"--decoding {Decodings.Name(decoding)}: {package} has an MLP head; decodings choose the flow-matching expert's steps");
            return BenchCommandLine.Usage;
        }

        var spec = PolicyBenchmark.SpecOf(engine);
        var decode = engine.IsFlowMatching ? DecodeSettings.Of(decoding) : new DecodeSettings(ExitMode.FullDepth, 1, false);
        var runner = new TabletopEpisodeRunner(profile, spec, TabletopDemonstrations.MaxEpisodeSeconds);
        var counts = new Dictionary<string, int>();
        if (maxLayer is { } cap)
        {
            Console.WriteLine($"every request stops at exit layer {engine.SnapToExit(cap)} (--max-layer {cap})");
        }

        if (decode.Mode == ExitMode.EarlyExit)
        {
            Console.WriteLine($"{Decodings.Name(decoding)}: the head runs at every exit, no exit is taken before the last");
        }

        Console.WriteLine("seed     skill     ok  steps  minTgt  minOther  tgtMoved  otherMoved  lowered  verdict");
        for (var seed = firstSeed; seed < firstSeed + episodes; seed++)
        {
            var watch = new Watcher(new EnginePolicy(engine, spec, profile.JointCount, decode, null, executeSteps, maxLayer), profile);
            var result = runner.Run(seed, watch);
            var verdict = result.Succeeded ? "success" : watch.Verdict();
            counts[verdict] = counts.GetValueOrDefault(verdict) + 1;
            Console.WriteLine($"{seed,-8} {result.Skill,-9} {(result.Succeeded ? 1 : 0),2} {result.Steps,6} {watch.MinTarget,7:F3} {watch.MinOther,9:F3} {watch.TargetMoved,9:F3} " +
                              $"{watch.OtherMoved,11:F3} {watch.LoweredShare,8:P0}  {verdict}");
        }

        Console.WriteLine(string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key}: {c.Value}")));
        return 0;
    }

    /// <summary>Passes the policy through and watches the world it acts in.</summary>
    private sealed class Watcher(ITabletopPolicy inner, EmbodimentProfile profile) : ITabletopPolicy
    {
        private TabletopWorld? _world;
        private TableBlock[] _start = [];
        private int _steps;
        private int _lowered;

        public float MinTarget { get; private set; } = float.MaxValue;

        public float MinOther { get; private set; } = float.MaxValue;

        public float TargetMoved { get; private set; }

        public float OtherMoved { get; private set; }

        public double LoweredShare => _steps == 0 ? 0 : _lowered / (double)_steps;

        public void Begin(TabletopWorld world, ReadOnlySpan<float> joints)
        {
            _world = world;
            _start = world.Blocks.ToArray();
            inner.Begin(world, joints);
        }

        public void Act(in TabletopObservation observation, Span<float> jointTargets)
        {
            var world = _world!;
            var (x, y, opening) = ArmSketch.Tip(profile, world.Arm, observation.Joints);
            _steps++;
            _lowered += opening < TabletopWorld.LoweredOpening ? 1 : 0;
            for (var i = 0; i < world.Blocks.Length; i++)
            {
                var b = world.Blocks[i];
                var d = MathF.Max(MathF.Abs(x - b.X), MathF.Abs(y - b.Y));
                var moved = MathF.Max(MathF.Abs(b.X - _start[i].X), MathF.Abs(b.Y - _start[i].Y));
                if (i == world.Target)
                {
                    MinTarget = MathF.Min(MinTarget, d);
                    TargetMoved = MathF.Max(TargetMoved, moved);
                }
                else
                {
                    MinOther = MathF.Min(MinOther, d);
                    OtherMoved = MathF.Max(OtherMoved, moved);
                }
            }

            inner.Act(observation, jointTargets);
        }

        public string Verdict()
        {
            var world = _world!;
            if (OtherMoved > 0.02f && TargetMoved < 0.02f)
            {
                return "pushed another block";
            }

            if (MinOther < MinTarget && MinTarget > 0.07f)
            {
                return "went to another block";
            }

            if (world.Skill != TabletopSkill.Touch && TargetMoved >= 0.02f)
            {
                return "pushed the target, not far enough or wrong way";
            }

            if (MinTarget > 0.07f)
            {
                return "never reached the target";
            }

            return LoweredShare == 0 ? "reached the target, never lowered" : "reached the target, lowered, failed";
        }
    }
}
