using A1Fleet.Operator;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C cancels what the command started (a calibration it waits for is cancelled on the cluster);
    // a second one kills.
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};
return await OperatorCommands.RunAsync(args, Console.Out, Console.Error, cancellation.Token,
    terminal: !Console.IsOutputRedirected, progress: !Console.IsErrorRedirected);
