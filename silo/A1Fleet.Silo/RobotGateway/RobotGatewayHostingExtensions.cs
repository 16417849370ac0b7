using System.Security.Cryptography.X509Certificates;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using A1Fleet.Grains.Robots;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.RobotGateway;

public static class RobotGatewayHostingExtensions
{
    /// <summary>
    /// The robot gateway, when "A1Fleet:RobotGateway:Port" is set: gRPC services, and a Kestrel endpoint of its own
    /// (HTTP/2 only; HTTPS with the configured certificate). Options are validated here, before Kestrel is configured.
    /// <para>Kestrel ignores <c>--urls</c>/<c>ASPNETCORE_URLS</c> once any endpoint is configured in code, so those
    /// addresses (the operator API) are listened on here as well, unchanged.</para>
    /// </summary>
    public static WebApplicationBuilder AddA1FleetRobotGateway(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(RobotGatewayOptions.SectionName);
        var options = section.Get<RobotGatewayOptions>() ?? new RobotGatewayOptions();
        var validation = new RobotGatewayOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(RobotGatewayOptions.SectionName, typeof(RobotGatewayOptions), validation.Failures);
        }

        builder.Services.AddOptions<RobotGatewayOptions>().Bind(section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RobotGatewayOptions>, RobotGatewayOptionsValidator>();
        if (options.Port is not { } port)
        {
            return builder;
        }

        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = options.MaxReceiveMessageBytes;
            // Errors carry their field in the status detail; exception details would leak server internals.
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton<CommandStreams>();
        builder.Services.AddSingleton<ILocalRobotCommandRelay>(sp => sp.GetRequiredService<CommandStreams>());
        builder.Services.AddRobotAdmission();
        builder.Services.AddSingleton<RobotGatewayInstruments>();
        builder.Services.AddMetrics();

        ListenOnServerUrlsOnce(builder);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Parse(options.BindAddress), port, endpoint =>
        {
            endpoint.Protocols = HttpProtocols.Http2;
            UseCertificate(endpoint, options.CertificatePath, options.CertificateKeyPath, options.CertificatePassword);
        }));
        return builder;
    }

    /// <summary>The credential check and per-robot rate every robot endpoint shares (once, whichever endpoints are on).</summary>
    public static IServiceCollection AddRobotAdmission(this IServiceCollection services)
    {
        services.TryAddSingleton<RobotRateLimits>();
        services.TryAddSingleton<RobotAdmission>();
        return services;
    }

    /// <summary>
    /// Kestrel ignores <c>--urls</c>/<c>ASPNETCORE_URLS</c> once any endpoint is configured in code: the first robot
    /// endpoint configured in code listens on those addresses (the operator API) itself, unchanged; later ones do not again.
    /// </summary>
    public static void ListenOnServerUrlsOnce(WebApplicationBuilder builder)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(ServerUrlsListened)))
        {
            return;
        }

        builder.Services.AddSingleton<ServerUrlsListened>();
        var urls = builder.Configuration[WebHostDefaults.ServerUrlsKey];
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var url in (string.IsNullOrWhiteSpace(urls) ? "http://localhost:5000" : urls).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                ListenOnUrl(kestrel, url);
            }
        });
    }

    /// <summary>HTTPS on a robot endpoint: a PEM certificate with its key, or a PFX with its password; none, cleartext.</summary>
    public static void UseCertificate(ListenOptions endpoint, string? certificatePath, string? keyPath, string? password)
    {
        if (!string.IsNullOrEmpty(keyPath))
        {
            endpoint.UseHttps(X509Certificate2.CreateFromPemFile(certificatePath!, keyPath));
        }
        else if (!string.IsNullOrEmpty(certificatePath))
        {
            endpoint.UseHttps(certificatePath, password);
        }
    }

    private sealed class ServerUrlsListened;

    /// <summary>
    /// Refuses (404) every path on the gateway's port but the gateway's own service. Call it before the operator
    /// API's authentication, so a request through the robots' port never reaches the operator pipeline at all.
    /// </summary>
    public static WebApplication UseA1FleetRobotGatewayPort(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<RobotGatewayOptions>>().Value;
        if (options.Port is not { } port)
        {
            return app;
        }

        // The operator API must not be reachable through the robots' port, nor the gateway through the operator's.
        app.UseWhen(context => context.Connection.LocalPort == port && !context.Request.Path.StartsWithSegments("/a1fleet.robot_gateway.v1.RobotGateway"),
            branch => branch.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }));
        return app;
    }

    /// <summary>Maps the gateway's gRPC service onto its port only (see <see cref="UseA1FleetRobotGatewayPort"/>).</summary>
    public static WebApplication MapA1FleetRobotGateway(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<RobotGatewayOptions>>().Value;
        if (options.Port is not { } port)
        {
            return app;
        }

        // Robots authenticate with their own credentials, checked by the service on every call; operator-key
        // authorization does not apply to them.
        app.MapGrpcService<RobotGatewayService>().RequireHost($"*:{port}").AllowAnonymous();
        return app;
    }

    private static void ListenOnUrl(KestrelServerOptions kestrel, string url)
    {
        var address = BindingAddress.Parse(url);
        Action<ListenOptions> configure = address.Scheme == "https" ? endpoint => endpoint.UseHttps() : _ => { };
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(address.Port, configure);
        }
        else if (IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip))
        {
            kestrel.Listen(ip, address.Port, configure);
        }
        else
        {
            // "*", "+" or a host name: every interface, as Kestrel does for --urls.
            kestrel.ListenAnyIP(address.Port, configure);
        }
    }
}
