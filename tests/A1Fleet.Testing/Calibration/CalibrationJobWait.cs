using A1Fleet.Grains;

namespace A1Fleet.Testing.Calibration;

public static class CalibrationJobWait
{
    /// <summary>Polls until the job has ended and no shard is still running (within 120 s).</summary>
    public static async Task<CalibrationJobStatus> FinishedAsync(ICalibrationJobGrain job)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var status = (await job.GetStatus())!;
            if (status.State != CalibrationJobState.Running && status.ShardsRunning == 0)
            {
                return status;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"job still running: {status}");
            }

            await Task.Delay(100);
        }
    }
}
