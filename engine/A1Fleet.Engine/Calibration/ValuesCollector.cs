using A1Fleet.EarlyExit;
using A1Fleet.Engine.Inference;
using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Calibration;

/// <summary>
/// Builds the calibration values matrix with the runtime's own code path: a full-depth pass with
/// the head at every exit, warm-start chaining for flow matching exactly as at run time, and the
/// same chunk-mean discrepancy the exit test uses. Samples are batched; the result does not depend
/// on the batch size.
/// </summary>
public static class ValuesCollector
{
    public static ValuesMatrix Collect(
        A1Engine engine,
        IReadOnlyList<ObservationSample> samples,
        DecodeSettings decode,
        DiscrepancyMetric metric,
        ulong seed = 0,
        int firstSampleIndex = 0,
        int batchSize = 16,
        IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var columns = new List<double[]>(samples.Count);
        for (var start = 0; start < samples.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, samples.Count - start);
            var requests = new InferenceRequest[count];
            for (var i = 0; i < count; i++)
            {
                requests[i] = ToRequest(samples[start + i], decode, metric, SampleSeed(seed, firstSampleIndex + start + i));
            }

            var results = engine.Run(requests, cancellationToken: cancellationToken);
            for (var i = 0; i < count; i++)
            {
                var result = results[i];
                if (!result.Succeeded)
                {
                    throw new InvalidDataException($"calibration sample {firstSampleIndex + start + i} (episode {samples[start + i].Episode}) failed: {result.Error}");
                }

                columns.Add(result.Discrepancies!);
            }

            progress?.Report(start + count);
        }

        return ValuesMatrix.FromColumns(columns);
    }

    /// <summary>Per-sample seeds: the matrix is the same whichever shard or batch a sample lands in.</summary>
    public static ulong SampleSeed(ulong seed, int sampleIndex) => (seed * 0x9E3779B97F4A7C15UL) + (ulong)sampleIndex + 1;

    public static InferenceRequest ToRequest(ObservationSample sample, DecodeSettings decode, DiscrepancyMetric metric, ulong seed) => new()
    {
        Instruction = sample.Instruction,
        State = sample.State,
        Images = sample.Images,
        Decode = decode with { Mode = ExitMode.EarlyExit },
        Metric = metric,
        Seed = seed,
        RecordDiscrepancies = true,
    };
}
