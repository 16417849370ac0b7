using A1Fleet.RobotAgent.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

// a1-agent --robot-id arm-1 --embodiment franka [--model small-fm] [--cluster localhost --gateway-port 30000 | --cluster redis --redis 127.0.0.1:6379] [--metrics-port 9464] [--record DIR]
var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, AgentCommandLine.SwitchMappings);
builder.AddA1FleetAgentHost();
var metricsPort = builder.Configuration.GetValue($"{AgentHostOptions.SectionName}:MetricsPort", 9464);
builder.WebHost.UseUrls($"http://0.0.0.0:{metricsPort}");
var app = builder.Build();
app.MapPrometheusScrapingEndpoint("/metrics");
await app.RunAsync();
