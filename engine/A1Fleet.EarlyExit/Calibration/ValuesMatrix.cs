namespace A1Fleet.EarlyExit;

/// <summary>
/// Calibration values V (spec "Threshold calibration", step 1): one row per exit k holding, for
/// every calibration sample, the chunk-mean discrepancy between exit k's action chunk and the
/// previous exit's. Stored exit-major so that each row is one contiguous span to sort.
/// </summary>
public sealed class ValuesMatrix
{
    private readonly double[] _values;

    /// <summary>A zero-filled matrix.</summary>
    public ValuesMatrix(int exits, int samples)
    {
        if (exits < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(exits), exits, "At least one exit is needed.");
        }

        if (samples < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(samples), samples, "Sample count cannot be negative.");
        }

        Exits = exits;
        Samples = samples;
        _values = new double[checked(exits * samples)];
    }

    /// <summary>Number of exits E (rows).</summary>
    public int Exits { get; }

    /// <summary>Number of calibration samples N (columns).</summary>
    public int Samples { get; }

    /// <summary>The discrepancy at <paramref name="exit"/> for <paramref name="sample"/>.</summary>
    public double this[int exit, int sample]
    {
        get => _values[Offset(exit, sample)];
        set => _values[Offset(exit, sample)] = value;
    }

    /// <summary>Every sample's value at one exit, in sample order.</summary>
    public ReadOnlySpan<double> Row(int exit)
    {
        CheckExit(exit);
        return _values.AsSpan(exit * Samples, Samples);
    }

    /// <summary>One sample's values at every exit, in exit order: the input of the runtime exit rule.</summary>
    public void CopyColumn(int sample, Span<double> destination)
    {
        CheckSample(sample);
        if (destination.Length < Exits)
        {
            throw new ArgumentException($"Destination holds {destination.Length} values; the matrix has {Exits} exits.", nameof(destination));
        }

        for (int exit = 0; exit < Exits; exit++)
        {
            destination[exit] = _values[(exit * Samples) + sample];
        }
    }

    /// <summary>
    /// Builds a matrix from per-sample arrays, each holding that sample's value at every exit (the
    /// natural output of one full-depth forward pass per sample).
    /// </summary>
    /// <exception cref="ArgumentException">No samples (the exit count is then unknown), a null column, or columns of differing length.</exception>
    public static ValuesMatrix FromColumns(IReadOnlyList<double[]> perSampleValues)
    {
        ArgumentNullException.ThrowIfNull(perSampleValues);
        if (perSampleValues.Count == 0)
        {
            throw new ArgumentException("At least one sample is needed to know the exit count.", nameof(perSampleValues));
        }

        int exits = perSampleValues[0]?.Length ?? 0;
        if (exits == 0)
        {
            throw new ArgumentException("Sample 0 has no values; every sample needs one value per exit.", nameof(perSampleValues));
        }

        var matrix = new ValuesMatrix(exits, perSampleValues.Count);
        for (int sample = 0; sample < perSampleValues.Count; sample++)
        {
            var column = perSampleValues[sample];
            if (column is null || column.Length != exits)
            {
                throw new ArgumentException(
                    $"Sample {sample} has {column?.Length.ToString() ?? "no"} values; sample 0 has {exits} (one per exit).",
                    nameof(perSampleValues));
            }

            for (int exit = 0; exit < exits; exit++)
            {
                matrix._values[(exit * matrix.Samples) + sample] = column[exit];
            }
        }

        return matrix;
    }

    /// <summary>
    /// Joins shards sample-wise, in the order given. Shards computed on different machines give
    /// the same matrix however the samples were split, so calibration does not depend on sharding.
    /// </summary>
    /// <exception cref="ArgumentException">No shards, a null shard, or shards with differing exit counts.</exception>
    public static ValuesMatrix Concat(IEnumerable<ValuesMatrix> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var list = shards.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("At least one shard is needed to know the exit count.", nameof(shards));
        }

        int exits = list[0]?.Exits ?? 0;
        int samples = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var shard = list[i];
            if (shard is null || shard.Exits != exits)
            {
                throw new ArgumentException(
                    $"Shard {i} has {shard?.Exits.ToString() ?? "no"} exits; shard 0 has {exits}.",
                    nameof(shards));
            }

            samples = checked(samples + shard.Samples);
        }

        var result = new ValuesMatrix(exits, samples);
        for (int exit = 0; exit < exits; exit++)
        {
            var destination = result._values.AsSpan(exit * samples, samples);
            foreach (var shard in list)
            {
                shard.Row(exit).CopyTo(destination);
                destination = destination[shard.Samples..];
            }
        }

        return result;
    }

    /// <summary>Row <paramref name="exit"/> as (array, offset), for sorting without copying.</summary>
    internal (double[] Storage, int Offset) RowStorage(int exit)
    {
        CheckExit(exit);
        return (_values, exit * Samples);
    }

    private int Offset(int exit, int sample)
    {
        CheckExit(exit);
        CheckSample(sample);
        return (exit * Samples) + sample;
    }

    private void CheckExit(int exit)
    {
        if ((uint)exit >= (uint)Exits)
        {
            throw new ArgumentOutOfRangeException(nameof(exit), exit, $"Exit index must be in [0, {Exits}).");
        }
    }

    private void CheckSample(int sample)
    {
        if ((uint)sample >= (uint)Samples)
        {
            throw new ArgumentOutOfRangeException(nameof(sample), sample, $"Sample index must be in [0, {Samples}).");
        }
    }
}
