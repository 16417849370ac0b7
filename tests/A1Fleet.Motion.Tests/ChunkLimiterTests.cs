using A1Fleet.Grains;

namespace A1Fleet.Motion.Tests;

/// <summary>
/// Chunks a compatible client executes itself: checked the way a robot would experience them, from the observed
/// position, one control period per step, against the embodiment's data-sheet limits.
/// </summary>
public sealed class ChunkLimiterTests
{
    private const long Frequency = 1_000_000;
    private const double Hz = 20;
    private const int Chunk = 10;

    [Theory]
    [InlineData(Embodiment.Franka, 1)]
    [InlineData(Embodiment.Franka, 2)]
    [InlineData(Embodiment.AgiBot, 3)]
    [InlineData(Embodiment.OpenArm, 4)]
    [InlineData(Embodiment.Dobot, 5)]
    public void Limit_RandomChunksFromRandomTimes_EveryStepWithinRangeVelocityAndAcceleration(Embodiment embodiment, int seed)
    {
        var profile = EmbodimentProfile.For(embodiment);
        var limits = profile.Limits;
        var columns = profile.JointCount;
        var limiter = new ChunkLimiter(profile, Hz);
        var random = new Random(seed);
        var observed = profile.Joints.Select(j => j.Home).ToArray();
        double[] velocity = new double[columns];
        long at = 0;
        float[]? plan = null;
        float[] planStart = observed;

        for (var request = 0; request < 40; request++)
        {
            // The client asks again after 0..12 periods (a chunk is 10), having executed the plan so far; a third of the
            // chunks are noise over the whole range (random weights), the rest a smooth motion elsewhere.
            if (plan is not null)
            {
                var elapsedSteps = random.Next(0, 13);
                var step = Math.Min(elapsedSteps, Chunk) - 1;
                observed = step < 0 ? planStart : plan[(step * columns)..((step + 1) * columns)];
                velocity = new double[columns];
                if (elapsedSteps < Chunk)
                {
                    var from = elapsedSteps == 0 ? planStart : plan[((elapsedSteps - 1) * columns)..(elapsedSteps * columns)];
                    for (var j = 0; j < columns; j++)
                    {
                        velocity[j] = (plan[(elapsedSteps * columns) + j] - from[j]) * Hz;
                    }
                }

                at += (long)(elapsedSteps * Frequency / Hz) + random.Next(0, (int)(Frequency / Hz));
            }

            var actions = random.Next(3) == 0 ? Noise(random, limits, columns) : Smooth(random, limits, columns);
            var (limited, _) = limiter.Limit(observed, actions, Chunk, columns, at, Frequency);

            AssertWithinLimits(limits, observed, velocity, limited, columns);
            plan = limited;
            planStart = observed;
        }
    }

    [Fact]
    public void Limit_SmoothChunkWithinLimits_PassesBitForBit()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        var actions = new float[Chunk * start.Length];
        for (var step = 0; step < Chunk; step++)
        {
            for (var j = 0; j < start.Length; j++)
            {
                // 0.5 mrad per period after a gentle start: far inside every Panda limit.
                actions[(step * start.Length) + j] = start[j] + (0.0005f * (step + 1) * (step + 1) / Chunk);
            }
        }

        var (limited, limitedSteps) = limiter.Limit(start, actions, Chunk, start.Length, 0, Frequency);

        Assert.Equal(0, limitedSteps);
        Assert.Equal(actions, limited);
    }

    [Fact]
    public void Limit_JumpAcrossTheRange_ApproachesWithinLimitsAndReportsTheLimitedSteps()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        var actions = new float[Chunk * 8];
        for (var step = 0; step < Chunk; step++)
        {
            profile.Limits.Upper.CopyTo(actions.AsSpan(step * 8, 8));
        }

        var (limited, limitedSteps) = limiter.Limit(start, actions, Chunk, 8, 0, Frequency);

        Assert.Equal(Chunk, limitedSteps);
        AssertWithinLimits(profile.Limits, start, new double[8], limited, 8);
        Assert.True(limited[^8] < profile.Limits.Upper[0], "joint 1 cannot cross its range in half a second from rest");
    }

    [Fact]
    public void Limit_ModelWiderThanTheColumns_LimitsAndReturnsOnlyTheColumns()
    {
        var profile = EmbodimentProfile.For(Embodiment.Dobot);
        var limiter = new ChunkLimiter(profile, Hz);
        var observed = profile.Joints.Select(j => j.Home).ToArray();
        var actions = Enumerable.Range(0, Chunk * 8).Select(i => i % 8 == 7 ? 99f : observed[i % 8 % observed.Length]).ToArray();

        var (limited, _) = limiter.Limit(observed, actions, Chunk, actionDim: 8, 0, Frequency);

        Assert.Equal(Chunk * observed.Length, limited.Length);
        Assert.DoesNotContain(99f, limited);
    }

    [Fact]
    public void Limit_NewChunkWhileTheLastIsRunning_ContinuesFromItsVelocity()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        var ramp = Ramp(start, perStep: 0.06f);
        var (first, _) = limiter.Limit(start, ramp, Chunk, 8, 0, Frequency);

        // Five periods in, the arm is at step 4 of the first chunk moving at about 1.2 rad/s; the model now asks to stand still there.
        var here = first[(4 * 8)..(5 * 8)];
        var stand = Enumerable.Range(0, Chunk).SelectMany(_ => here).ToArray();
        var (second, limitedSteps) = limiter.Limit(here, stand, Chunk, 8, 5 * Frequency / (long)Hz, Frequency);

        var velocity = Enumerable.Range(0, 8).Select(j => (double)(first[(5 * 8) + j] - first[(4 * 8) + j]) * Hz).ToArray();
        Assert.True(velocity[0] > 0.8, $"the first chunk moves joint 1 at {velocity[0]} rad/s");
        Assert.True(limitedSteps > 0, "stopping from over 0.75 rad/s takes more than one period at joint 1's 15 rad/s²");
        Assert.True(second[0] > here[0], "the arm keeps moving while it brakes rather than stopping dead");
        AssertWithinLimits(profile.Limits, here, velocity, second, 8);
    }

    [Fact]
    public void Limit_AfterTheLastChunkRanOut_StartsFromRest()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var start = profile.Joints.Select(j => j.Home).ToArray();
        var ramp = Ramp(start, perStep: 0.06f);
        var (first, _) = limiter.Limit(start, ramp, Chunk, 8, 0, Frequency);
        var end = first[^8..];

        var (second, _) = limiter.Limit(end, Ramp(end, perStep: 0.1f), Chunk, 8, 30 * Frequency / (long)Hz, Frequency);

        AssertWithinLimits(profile.Limits, end, new double[8], second, 8);
    }

    [Theory]
    [InlineData(0, 45f)]
    [InlineData(3, 0.5f)]
    [InlineData(7, float.NaN)]
    public void Limit_ObservedOutsideTheJointsRange_RefusesNamingTheStateIndexAndJoint(int joint, float value)
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var observed = profile.Joints.Select(j => j.Home).ToArray();
        observed[joint] = value;

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Limit(observed, new float[Chunk * 8], Chunk, 8, 0, Frequency));

        Assert.Contains($"state[{joint}]:", error.Message, StringComparison.Ordinal);
        Assert.Contains(profile.Joints[joint].Name, error.Message, StringComparison.Ordinal);
        Assert.StartsWith(limiter.CheckObserved(observed)!, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckObserved_WithinTheTolerance_Accepted()
    {
        var profile = EmbodimentProfile.For(Embodiment.Franka);
        var limiter = new ChunkLimiter(profile, Hz);
        var observed = profile.Joints.Select(j => j.Home).ToArray();
        observed[7] = 0.081f;

        Assert.Null(limiter.CheckObserved(observed));
    }

    [Fact]
    public void Limit_MoreColumnsThanJoints_Refused()
    {
        var limiter = new ChunkLimiter(EmbodimentProfile.For(Embodiment.Dobot), Hz);

        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Limit(new float[8], new float[Chunk * 8], Chunk, 8, 0, Frequency));
    }

    private static float[] Ramp(float[] start, float perStep) =>
        [.. Enumerable.Range(0, Chunk).SelectMany(step => start.Select((q, j) => j == 0 ? q + (perStep * (step + 1)) : q))];

    private static float[] Noise(Random random, JointLimits limits, int columns)
    {
        var actions = new float[Chunk * columns];
        for (var i = 0; i < actions.Length; i++)
        {
            var j = i % columns;
            var span = limits.Upper[j] - limits.Lower[j];
            actions[i] = limits.Lower[j] - (0.2f * span) + (float)(random.NextDouble() * 1.4 * span);
        }

        return actions;
    }

    private static float[] Smooth(Random random, JointLimits limits, int columns)
    {
        var actions = new float[Chunk * columns];
        for (var j = 0; j < columns; j++)
        {
            var centre = limits.Lower[j] + (float)(random.NextDouble() * (limits.Upper[j] - limits.Lower[j]));
            var amplitude = (float)random.NextDouble() * 0.1f;
            for (var step = 0; step < Chunk; step++)
            {
                actions[(step * columns) + j] = centre + (amplitude * MathF.Sin(step * 0.3f));
            }
        }

        return actions;
    }

    /// <summary>What the robot experiences: from the observed position moving at <paramref name="velocity"/>, each step one period.</summary>
    private static void AssertWithinLimits(JointLimits limits, ReadOnlySpan<float> observed, double[] velocity, float[] limited, int columns)
    {
        const double Slack = 1e-4;
        for (var j = 0; j < columns; j++)
        {
            var vmax = limits.MaxVelocity[j];
            var dvmax = limits.MaxAcceleration[j] / Hz;
            var previous = (double)Math.Clamp(observed[j], limits.Lower[j], limits.Upper[j]);
            var v = Math.Clamp(velocity[j], -vmax, vmax);
            for (var step = 0; step < limited.Length / columns; step++)
            {
                var q = limited[(step * columns) + j];
                Assert.InRange(q, limits.Lower[j], limits.Upper[j]);
                var next = (q - previous) * Hz;
                Assert.True(Math.Abs(next) <= vmax * (1 + Slack) + Slack, $"joint {j} step {step}: {next} rad/s over {vmax}");
                Assert.True(Math.Abs(next - v) <= dvmax * (1 + Slack) + Slack, $"joint {j} step {step}: velocity {v} -> {next} changes by more than {dvmax} per period");
                previous = q;
                v = next;
            }
        }
    }
}
