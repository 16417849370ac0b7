using A1Fleet.Grains;

namespace A1Fleet.Operator.Client;

/// <summary>
/// Following a submitted cluster calibration job, shared by <c>a1ctl calibrate</c> and the calibration job's
/// <c>--cluster</c> mode: poll its status until it leaves Running (riding out a short loss of contact), and on
/// Ctrl-C cancel it through the API (<c>DELETE /api/calibrations/{id}</c>), since the job is the command's.
/// The job id is chosen by the caller (<see cref="NewJobId"/>), so a Ctrl-C that lands while the submission is
/// in flight can still cancel it.
/// </summary>
public static class CalibrationJobFollower
{
    /// <summary>Status is cheap (one grain call); half a second keeps a progress bar moving without load.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long polling rides out an unreachable API (a silo restarting behind the Service, a rolling
    /// update) before giving up on a job that may well still be running.
    /// </summary>
    public static readonly TimeSpan PollTolerance = TimeSpan.FromSeconds(60);

    /// <summary>Bounds the cancel request sent after Ctrl-C, when the command's own token is already spent.</summary>
    private static readonly TimeSpan CancelTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A job id for <paramref name="modelId"/>: the model, the UTC time and a random suffix.</summary>
    public static string NewJobId(string modelId, TimeProvider time) => $"{modelId}-{time.GetUtcNow():yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>
    /// Polls until the job leaves Running, calling <paramref name="report"/> with each status and, while the API does
    /// not answer, what is wrong. Throws <see cref="CalibrationJobLostException"/> when contact is lost for longer than
    /// <see cref="PollTolerance"/> or the job no longer exists, and <see cref="OperationCanceledException"/> on <paramref name="ct"/>.
    /// </summary>
    public static async Task<CalibrationJobStatus> FollowAsync(OperatorClient client, CalibrationJobStatus status, Action<CalibrationJobStatus, string?> report, TimeProvider time, CancellationToken ct)
    {
        var url = client.BaseAddress?.ToString().TrimEnd('/');
        var lastContact = time.GetTimestamp();
        string? trouble = null;
        while (status.State == CalibrationJobState.Running)
        {
            report(status, trouble);
            await Task.Delay(PollInterval, time, ct);
            try
            {
                status = await client.Calibration(status.JobId, ct);
                lastContact = time.GetTimestamp();
                trouble = null;
            }
            catch (Exception ex) when (Unreachable(ex, ct) is not null || ex is OperatorApiException { Status: >= 500 })
            {
                var silent = time.GetElapsedTime(lastContact);
                if (silent > PollTolerance)
                {
                    throw new CalibrationJobLostException($"lost contact with the cluster at {url} for {silent.TotalSeconds:F0} s ({Unreachable(ex, ct) ?? ex.Message}); " +
                        $"job {status.JobId} may still be running: `a1ctl --url {url} calibration {status.JobId}`");
                }

                trouble = $"no answer for {silent.TotalSeconds:F0} s, retrying";
            }
            catch (OperatorApiException ex) when (ex.Status == 404)
            {
                throw new CalibrationJobLostException($"calibration job {status.JobId} no longer exists on the cluster ({ex.Detail}); its state was lost, so nothing was published by it");
            }
        }

        report(status, null);
        return status;
    }

    /// <summary>
    /// Ctrl-C: cancels job <paramref name="jobId"/> on the cluster (the caller's token is spent, so this has its own
    /// bound) and says what became of it, for stderr.
    /// </summary>
    public static async Task<string> CancelAsync(OperatorClient client, string jobId, TimeProvider time)
    {
        var url = client.BaseAddress?.ToString().TrimEnd('/');
        using var timeout = new CancellationTokenSource(CancelTimeout, time);
        try
        {
            var canceled = await client.CancelCalibration(jobId, timeout.Token);
            return $"canceled: calibration job {jobId} is {canceled.State} on the cluster" + (canceled.State == CalibrationJobState.Canceled ? "; nothing was published" : "");
        }
        catch (OperatorApiException ex) when (ex.Status == 404)
        {
            return $"canceled before the cluster accepted job {jobId}";
        }
        catch (Exception ex) when (ex is OperatorApiException || Unreachable(ex, CancellationToken.None) is not null)
        {
            return $"canceled here, but the cluster job {jobId} could not be canceled ({ex.Message}); cancel it with `a1ctl --url {url} cancel-calibration {jobId}`";
        }
    }

    /// <summary>The reason the API could not be reached, or null when <paramref name="ex"/> is something else (the caller's own cancellation included).</summary>
    public static string? Unreachable(Exception ex, CancellationToken ct) => ex switch
    {
        HttpRequestException http => http.Message,
        TaskCanceledException when !ct.IsCancellationRequested => $"no answer within {OperatorClient.DefaultTimeout.TotalSeconds:F0} s",
        _ => null,
    };
}

/// <summary>A followed job can no longer be followed: contact lost for too long, or the job gone from the cluster.</summary>
public sealed class CalibrationJobLostException(string message) : Exception(message);
