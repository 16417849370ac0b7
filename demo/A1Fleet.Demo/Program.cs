using A1Fleet.Demo;

return await EngineDemo.RunAsync(args);
