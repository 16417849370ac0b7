using A1Fleet.RobotAgent.Host;
using Microsoft.AspNetCore.Builder;

// a1-agent --robot-id arm-1 --embodiment franka [--model small-fm] [--cluster localhost --gateway-port 30000 | --cluster redis --redis 127.0.0.1:6379]
//          [--metrics-port 9464] [--listen-address 127.0.0.1] [--record DIR]
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, AgentCommandLine.SwitchMappings);
builder.AddA1FleetAgentHost(builder.WebHost);
var app = builder.Build();
app.MapA1FleetAgentEndpoints();
await app.RunAsync();
