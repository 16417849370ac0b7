using A1Fleet.Operator;

return await OperatorCommands.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
