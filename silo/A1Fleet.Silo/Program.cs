using A1Fleet.Silo.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddA1FleetSilo();
var app = builder.Build();
app.MapA1FleetEndpoints();
app.Run();
