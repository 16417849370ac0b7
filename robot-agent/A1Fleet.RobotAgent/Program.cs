using A1Fleet.RobotAgent.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

// a1-agent --gateway https://silo:8443 --credential-file FILE (or A1FLEET_ROBOT_CREDENTIAL) --robot-id arm-1 --embodiment franka [--model small-fm] [--metrics-port 9464] [--record DIR]
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, AgentCommandLine.SwitchMappings);
builder.AddA1FleetAgentHost();
var metricsPort = builder.Configuration.GetValue($"{AgentHostOptions.SectionName}:MetricsPort", 9464);
builder.WebHost.UseUrls($"http://0.0.0.0:{metricsPort}");
var app = builder.Build();
app.MapPrometheusScrapingEndpoint("/metrics");
await app.RunAsync();
