using System.Globalization;
using A1Fleet.CalibrationJobs.Cli;
using A1Fleet.CalibrationJobs.Reporting;
using A1Fleet.Datasets.Reading;
using A1Fleet.EarlyExit;
using A1Fleet.Grains;
using A1Fleet.Operator.Client;

namespace A1Fleet.CalibrationJobs.Commands;

/// <summary>
/// calibrate --cluster URL: submits the sweep to the silos' operator API (POST /api/calibrations),
/// draws the progress from the job's status (<see cref="CalibrationJobFollower"/>, shared with a1ctl calibrate) while its shards run on the GPU silos, then fetches
/// every published threshold set (GET /api/models/{id}/thresholds/{version}) and prints the table
/// the stand-alone run prints, from those sets. Ctrl-C cancels the job on the cluster.
/// </summary>
internal sealed class ClusterCalibrateCommand(CalibrateOptions options, TextWriter output, TextWriter error, TimeProvider time, bool progressBars)
{
    private readonly string _url = options.Cluster!.ToString().TrimEnd('/');

    public async Task<int> RunAsync(CancellationToken ct)
    {
        // The operator API needs an admin key to start a calibration: A1FLEET_API_KEY, as for a1ctl.
        using var http = OperatorClient.CreateHttpClient(options.Cluster!, apiKey: OperatorClient.ApiKeyFromEnvironment());
        var client = new OperatorClient(http);
        // The id is chosen here, not by the server, so a Ctrl-C that lands while the submission is in
        // flight can still cancel the job, and a retried submission attaches instead of starting twice.
        var jobId = options.JobId ?? CalibrationJobFollower.NewJobId(options.ModelId!, time);
        var request = new StartCalibrationRequest(
            options.ModelId!,
            options.DatasetDirectory,
            Families: [.. options.Families.Select(ExitDistribution.FamilyName)],
            Rs: [.. options.Rs],
            Metric: options.Metric,
            Decode: options.DecodeName,
            Shards: options.Shards,
            HoldoutShare: options.HoldoutShare,
            SkipBadData: options.BadData == BadDataPolicy.Skip,
            MakeLive: options.MakeLive,
            BatchSize: options.BatchSize,
            JobId: jobId);
        await output.WriteLineAsync($"cluster {_url}: model {options.ModelId}, dataset {options.DatasetDirectory} (as the GPU silos see it)");
        await output.WriteLineAsync($"sweep: families {string.Join(",", request.Families!)}, r {string.Join(",", options.Rs.Select(r => r.ToString("0.0###", CultureInfo.InvariantCulture)))}, " +
            $"metric {options.Metric ?? "model default"}, decode {options.DecodeName ?? "exit-warm-k2"}; {(options.Shards is { } s ? Count(s, "shard") : "default shards")}, batch {options.BatchSize}, " +
            $"holdout share {options.HoldoutShare.ToString(CultureInfo.InvariantCulture)}, bad data {(options.BadData == BadDataPolicy.Skip ? "skip" : "fail")}");

        CalibrationJobStatus status;
        try
        {
            status = await client.StartCalibration(request, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return await CancelJobAsync(client, jobId);
        }
        catch (Exception ex) when (CalibrationJobFollower.Unreachable(ex, ct) is { } problem)
        {
            return Fail($"cannot reach the cluster at {_url}: {problem} (is a silo's HTTP port at that address?)");
        }
        catch (OperatorApiException ex)
        {
            return Fail($"the cluster refused the job: {ex.Detail}");
        }

        await output.WriteLineAsync($"calibration job {status.JobId}: {status.SamplesTotal} calibration samples in {Count(status.ShardsTotal, "shard")}" +
            (status.State == CalibrationJobState.Running ? "" : $" (an existing job, already {status.State})"));
        if (options.NoWait)
        {
            await output.WriteLineAsync($"not waiting (--no-wait): follow it with `a1ctl --url {_url} calibration {status.JobId}`, cancel it with `a1ctl --url {_url} cancel-calibration {status.JobId}`");
            return ExitCodes.Success;
        }

        await output.WriteLineAsync("Ctrl-C cancels the job on the cluster");
        var progress = new ProgressBar(error, progressBars);
        try
        {
            status = await CalibrationJobFollower.FollowAsync(client, status, (s, trouble) => progress.ReportJob(s, Elapsed(s), trouble), time, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            progress.Finish();
            return await CancelJobAsync(client, status.JobId);
        }
        catch (CalibrationJobLostException ex)
        {
            progress.Finish();
            return Fail(ex.Message);
        }

        progress.Finish();
        return status.State switch
        {
            CalibrationJobState.Completed => await ReportAsync(client, status, ct),
            CalibrationJobState.Failed => Fail($"calibration job {status.JobId} failed on the cluster: {status.Error}"),
            _ => Fail($"calibration job {status.JobId} was canceled on the cluster (a1ctl cancel-calibration or DELETE /api/calibrations/{status.JobId}); nothing was published"),
        };
    }

    private async Task<int> ReportAsync(OperatorClient client, CalibrationJobStatus status, CancellationToken ct)
    {
        if (status.Published.Length == 0)
        {
            return Fail($"calibration job {status.JobId} completed but published no threshold set");
        }

        var sets = new List<ThresholdSet>(status.Published.Length);
        string? liveNow;
        try
        {
            // Live as the model has it now: each published entry's flag is from its own publication.
            liveNow = (await client.Model(options.ModelId!, ct)).LiveVersion;
            foreach (var published in status.Published)
            {
                var set = ThresholdSet.FromJson(await client.ThresholdSetJson(options.ModelId!, published.Version, ct));
                if (set.Version != published.Version || set.Name != published.Name)
                {
                    return Fail($"the cluster returned set {set.Name} version {set.Version} for {published.Name} version {published.Version}");
                }

                sets.Add(set);
            }
        }
        catch (Exception ex) when (CalibrationJobFollower.Unreachable(ex, ct) is { } problem)
        {
            return Fail($"job {status.JobId} completed, but its threshold sets could not be fetched from {_url}: {problem}; `a1ctl --url {_url} calibration {status.JobId}` lists them");
        }
        catch (OperatorApiException ex)
        {
            return Fail($"job {status.JobId} completed, but fetching its threshold sets failed: {ex.Detail}");
        }
        catch (InvalidDataException ex)
        {
            return Fail($"job {status.JobId} published a threshold set this tool cannot read: {ex.Message}");
        }

        var elapsed = (status.FinishedAt ?? time.GetUtcNow()) - status.StartedAt;
        CalibrationTables.WritePass(output, sets[0].SampleCount, elapsed,
            $"on the cluster: {Count(status.ShardsTotal, "shard")}, full depth, head at all {sets[0].ExitLayers.Length} exits; batch {options.BatchSize}; submission to publication");
        CalibrationTables.WriteExpected(output, sets);
        await output.WriteLineAsync();
        await output.WriteLineAsync($"published to model {options.ModelId} (a1ctl thresholds {options.ModelId}; a1ctl live {options.ModelId} VERSION makes one live):");
        var nameWidth = Math.Max(16, sets.Max(s => s.Name.Length) + 1);
        foreach (var published in status.Published)
        {
            await output.WriteLineAsync($"  {published.Name.PadRight(nameWidth)}version {published.Version}{(published.Version == liveNow ? "  live" : "")}");
        }

        await output.WriteLineAsync("no held-out evaluation: a cluster job publishes the expected figures only (run without --cluster to measure held-out episodes)");
        if (options.OutDirectoryGiven)
        {
            Directory.CreateDirectory(options.OutDirectory);
            foreach (var set in sets)
            {
                set.Save(Path.Combine(options.OutDirectory, set.Name + ".json"));
            }

            await output.WriteLineAsync($"wrote {sets.Count} threshold sets to {Path.GetFullPath(options.OutDirectory)}");
        }

        if (options.MakeLive is { } makeLive && !status.Published.Any(p => p.Name == makeLive && p.Live))
        {
            return Fail($"--make-live {makeLive}: the job published no set of that name, so the live version did not change (published: {string.Join(", ", status.Published.Select(p => p.Name))})");
        }

        return ExitCodes.Success;
    }

    /// <summary>Ctrl-C: the job is this command's, so stopping the command stops the job (--no-wait leaves jobs running).</summary>
    private async Task<int> CancelJobAsync(OperatorClient client, string jobId)
    {
        await error.WriteLineAsync(await CalibrationJobFollower.CancelAsync(client, jobId, time));
        return ExitCodes.Canceled;
    }

    private TimeSpan Elapsed(CalibrationJobStatus status)
    {
        var elapsed = (status.FinishedAt ?? time.GetUtcNow()) - status.StartedAt;
        return elapsed > TimeSpan.Zero ? elapsed : TimeSpan.Zero;
    }

    private static string Count(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : "s")}";

    private int Fail(string message)
    {
        error.WriteLine($"calibrate failed: {message}");
        return ExitCodes.Failed;
    }
}
