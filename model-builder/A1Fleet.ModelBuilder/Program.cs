using A1Fleet.ModelBuilder.Cli;

return BuilderCli.Run(args, Console.Out, Console.Error);
