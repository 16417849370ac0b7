using A1Fleet.CalibrationJobs.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C cancels cleanly (the engine stops between layers; in cluster mode the job on the
    // cluster is canceled too, since it is this command's); a second one kills.
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};
return await CliApp.RunAsync(args, Console.Out, Console.Error, TimeProvider.System, progressBars: !Console.IsErrorRedirected, cancellation.Token);
