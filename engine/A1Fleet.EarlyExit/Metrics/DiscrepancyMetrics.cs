namespace A1Fleet.EarlyExit;

/// <summary>
/// Discrepancy between two action chunks: per chunk step over the non-padding action dims, then
/// averaged over the chunk steps (spec "Exits"). Runs once per exit per request, so it allocates
/// nothing.
/// </summary>
public static class DiscrepancyMetrics
{
    /// <summary>
    /// torch <c>F.normalize</c>'s eps: a step whose norm is below it is divided by eps instead, so
    /// a (near-)zero vector reads as dissimilar (discrepancy 1) rather than dividing by zero.
    /// </summary>
    public const double CosineNormEpsilon = 1e-5;

    private const string ValidNames = "cosine, l2, mean, max";

    /// <summary>Parses a metric name case-insensitively: "cosine", "l2", "mean" or "max".</summary>
    /// <exception cref="ArgumentException">The name is none of those.</exception>
    public static DiscrepancyMetric Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParse(name, out var metric)
            ? metric
            : throw new ArgumentException($"Unknown discrepancy metric '{name}'; valid names: {ValidNames}.", nameof(name));
    }

    /// <summary>Tries <see cref="Parse"/> without throwing.</summary>
    public static bool TryParse(string? name, out DiscrepancyMetric metric)
    {
        foreach (var candidate in (ReadOnlySpan<DiscrepancyMetric>)[DiscrepancyMetric.Cosine, DiscrepancyMetric.L2, DiscrepancyMetric.Mean, DiscrepancyMetric.Max])
        {
            if (string.Equals(name, Name(candidate), StringComparison.OrdinalIgnoreCase))
            {
                metric = candidate;
                return true;
            }
        }

        metric = default;
        return false;
    }

    /// <summary>The lower-case name used in configuration and threshold files.</summary>
    public static string Name(DiscrepancyMetric metric) => metric switch
    {
        DiscrepancyMetric.Cosine => "cosine",
        DiscrepancyMetric.L2 => "l2",
        DiscrepancyMetric.Mean => "mean",
        DiscrepancyMetric.Max => "max",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, $"Unknown discrepancy metric; valid names: {ValidNames}."),
    };

    /// <summary>
    /// Discrepancy between chunks <paramref name="a"/> and <paramref name="b"/>, both row-major
    /// (<paramref name="chunk"/>, <paramref name="actionDim"/>). Dims flagged in
    /// <paramref name="isPadding"/> are ignored (the reference code counts them, which dilutes the
    /// metric by the padded width; the spec calls that a defect). A NaN in either chunk yields NaN,
    /// which never passes an exit test (<c>NaN &lt;= T</c> is false) and which the calibrator
    /// treats as "never exits here".
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, or every action dim is padding.</exception>
    public static double ChunkDiscrepancy(
        DiscrepancyMetric metric,
        ReadOnlySpan<float> a,
        ReadOnlySpan<float> b,
        int chunk,
        int actionDim,
        ReadOnlySpan<bool> isPadding)
    {
        int activeDims = ValidateShape(a, b, chunk, actionDim, isPadding);
        double total = 0;
        for (int step = 0; step < chunk; step++)
        {
            var stepA = a.Slice(step * actionDim, actionDim);
            var stepB = b.Slice(step * actionDim, actionDim);
            total += metric switch
            {
                DiscrepancyMetric.Cosine => CosineStep(stepA, stepB, isPadding),
                DiscrepancyMetric.L2 => Math.Sqrt(SquaredErrorSum(stepA, stepB, isPadding) / activeDims),
                DiscrepancyMetric.Mean => AbsoluteErrorSum(stepA, stepB, isPadding) / activeDims,
                DiscrepancyMetric.Max => MaxAbsoluteError(stepA, stepB, isPadding),
                _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, $"Unknown discrepancy metric; valid names: {ValidNames}."),
            };
        }

        return total / chunk;
    }

    private static int ValidateShape(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int chunk, int actionDim, ReadOnlySpan<bool> isPadding)
    {
        if (chunk < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "Chunk length must be at least 1.");
        }

        if (actionDim < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(actionDim), actionDim, "Action dim must be at least 1.");
        }

        long expected = (long)chunk * actionDim;
        if (a.Length != expected)
        {
            throw new ArgumentException($"Chunk a has {a.Length} values; chunk {chunk} x action dim {actionDim} needs {expected}.", nameof(a));
        }

        if (b.Length != expected)
        {
            throw new ArgumentException($"Chunk b has {b.Length} values; chunk {chunk} x action dim {actionDim} needs {expected}.", nameof(b));
        }

        if (isPadding.Length != actionDim)
        {
            throw new ArgumentException($"Padding mask has {isPadding.Length} entries; action dim is {actionDim}.", nameof(isPadding));
        }

        int activeDims = 0;
        foreach (bool padded in isPadding)
        {
            if (!padded)
            {
                activeDims++;
            }
        }

        if (activeDims == 0)
        {
            throw new ArgumentException($"All {actionDim} action dims are padding; there is nothing to compare.", nameof(isPadding));
        }

        return activeDims;
    }

    private static double AbsoluteErrorSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<bool> isPadding)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!isPadding[i])
            {
                sum += Math.Abs((double)a[i] - b[i]);
            }
        }

        return sum;
    }

    private static double SquaredErrorSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<bool> isPadding)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!isPadding[i])
            {
                double difference = (double)a[i] - b[i];
                sum += difference * difference;
            }
        }

        return sum;
    }

    private static double MaxAbsoluteError(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<bool> isPadding)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!isPadding[i])
            {
                // Math.Max rather than '>' so that a NaN propagates instead of being skipped.
                max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
            }
        }

        return max;
    }

    private static double CosineStep(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<bool> isPadding)
    {
        double dot = 0;
        double squaredNormA = 0;
        double squaredNormB = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!isPadding[i])
            {
                double x = a[i];
                double y = b[i];
                dot += x * y;
                squaredNormA += x * x;
                squaredNormB += y * y;
            }
        }

        double normA = Math.Max(Math.Sqrt(squaredNormA), CosineNormEpsilon);
        double normB = Math.Max(Math.Sqrt(squaredNormB), CosineNormEpsilon);
        return 1.0 - (dot / (normA * normB));
    }
}
