using A1Fleet.RobotAgent.Host;
using Microsoft.AspNetCore.Builder;

// a1-agent --gateway https://silo:8443 --credential-file FILE (or A1FLEET_ROBOT_CREDENTIAL) --robot-id arm-1 --embodiment franka [--model small-fm]
//          [--metrics-port 9464] [--listen-address 127.0.0.1] [--record DIR]
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, AgentCommandLine.SwitchMappings);
builder.AddA1FleetAgentHost(builder.WebHost);
var app = builder.Build();
app.MapA1FleetAgentEndpoints();
await app.RunAsync();
