using A1Fleet.RobotAgent.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

// a1-agent --gateway https://silo:8443 --credential-file FILE (or A1FLEET_ROBOT_CREDENTIAL) --robot-id arm-1 --embodiment franka [--model small-fm]
//          [--metrics-port 9464] [--listen-address 127.0.0.1] [--record DIR]; a1-agent --help lists every switch.
return await AgentCommandLine.RunAsync(args, async (settings, cancellationToken) =>
{
    var builder = WebApplication.CreateBuilder();
    builder.Configuration.AddInMemoryCollection(settings);
    try
    {
        builder.AddA1FleetAgentHost(builder.WebHost);
        var app = builder.Build();
        app.MapA1FleetAgentEndpoints();
        await app.RunAsync();
        return AgentCommandLine.Ok;
    }
    catch (OptionsValidationException invalid)
    {
        // Settings are the operator's to fix: each problem names its switch or key; a stack trace would bury them.
        foreach (var failure in invalid.Failures)
        {
            await Console.Error.WriteLineAsync($"a1-agent: {failure}");
        }

        return AgentCommandLine.Failed;
    }
}, Console.Error);
