using System.Net;
using A1Fleet.Silo.RobotGateway;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Compat;

public static class CompatHostingExtensions
{
    /// <summary>
    /// The compatible-protocol endpoints, each when its port is set ("A1Fleet:Compat:OpenPiPort", "A1Fleet:Compat:A1HttpPort"):
    /// HTTP/1.1 Kestrel endpoints of their own (TLS with the configured certificate). Options are validated here, before
    /// Kestrel is configured, and again on start.
    /// </summary>
    public static WebApplicationBuilder AddA1FleetCompat(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(CompatOptions.SectionName);
        var options = section.Get<CompatOptions>() ?? new CompatOptions();
        var validation = new CompatOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(CompatOptions.SectionName, typeof(CompatOptions), validation.Failures);
        }

        builder.Services.AddOptions<CompatOptions>().Bind(section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<CompatOptions>, CompatOptionsValidator>();
        if (options.OpenPiPort is null && options.A1HttpPort is null)
        {
            return builder;
        }

        builder.Services.AddRobotAdmission();
        builder.Services.AddSingleton<CompatSessions>();
        builder.Services.AddSingleton<CompatInstruments>();
        builder.Services.AddSingleton<OpenPiEndpoint>();
        builder.Services.AddSingleton<A1HttpEndpoint>();
        builder.Services.AddMetrics();

        RobotGatewayHostingExtensions.ListenOnServerUrlsOnce(builder);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var port in new[] { options.OpenPiPort, options.A1HttpPort }.OfType<int>())
            {
                kestrel.Listen(IPAddress.Parse(options.BindAddress), port, endpoint =>
                {
                    // WebSockets (RFC 6455) and A1's clients are HTTP/1.1.
                    endpoint.Protocols = HttpProtocols.Http1;
                    RobotGatewayHostingExtensions.UseCertificate(endpoint, options.CertificatePath, options.CertificateKeyPath, options.CertificatePassword);
                });
            }
        });
        return builder;
    }

    /// <summary>
    /// Serves each compatible endpoint on its own port, and nothing else there: call it before the operator API's
    /// authentication, so a request through a robot port never reaches the operator pipeline (nor the other way round).
    /// </summary>
    public static WebApplication UseA1FleetCompatPorts(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<CompatOptions>>().Value;
        if (options.OpenPiPort is { } openPi)
        {
            var endpoint = app.Services.GetRequiredService<OpenPiEndpoint>();
            app.MapWhen(context => context.Connection.LocalPort == openPi, branch =>
            {
                branch.UseWebSockets();
                branch.Run(endpoint.HandleAsync);
            });
        }

        if (options.A1HttpPort is { } a1)
        {
            var endpoint = app.Services.GetRequiredService<A1HttpEndpoint>();
            app.MapWhen(context => context.Connection.LocalPort == a1, branch => branch.Run(endpoint.HandleAsync));
        }

        return app;
    }
}
