using A1Fleet.ModelBuilder.Cli;

// Ctrl-C cancels the build (the staging directory is removed and --out is left as it was); a second Ctrl-C ends the process.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};
return BuilderCli.Run(args, Console.Out, Console.Error, cancellation.Token);
