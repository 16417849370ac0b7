using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Security;

public static class SecurityHostingExtensions
{
    /// <summary>
    /// Operator identity and input limits: API-key authentication, the role policies, robot credential checks
    /// (<see cref="IRobotCredentialValidator"/>), the bootstrap admin key, per-key rate limits and problem details
    /// for requests that cannot be bound. Call after UseOrleans: the bootstrap seeding runs after the silo started.
    /// </summary>
    public static WebApplicationBuilder AddA1FleetSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SecurityOptions>().Bind(builder.Configuration.GetSection(SecurityOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecurityOptions>, SecurityOptionsValidator>();
        services.AddOptions<ApiLimitsOptions>().Bind(builder.Configuration.GetSection(ApiLimitsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ApiLimitsOptions>, ApiLimitsOptionsValidator>();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(OperatorPolicies.Viewer, p => p.RequireRole(OperatorPolicies.Viewer, OperatorPolicies.Operator, OperatorPolicies.Admin))
            .AddPolicy(OperatorPolicies.Operator, p => p.RequireRole(OperatorPolicies.Operator, OperatorPolicies.Admin))
            .AddPolicy(OperatorPolicies.Admin, p => p.RequireRole(OperatorPolicies.Admin));
        services.AddSingleton<IRobotCredentialValidator, RobotCredentialValidator>();
        services.AddSingleton<SecurityInstruments>();
        services.AddHostedService<BootstrapAdminKey>();

        // Binding failures throw, so ApiProblems can name the field instead of answering an empty 400.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddExceptionHandler<ApiProblems>();
        services.Configure<ProblemDetailsOptions>(o => o.CustomizeProblemDetails = ApiProblems.FillDetail);
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<ApiLimitsOptions>>((o, limits) => ConfigureRateLimits(o, limits.Value));
        return builder;
    }

    /// <summary>The middleware, in order: audit (outermost: it sees every final status), problems, authentication, rate limits, authorization.</summary>
    public static WebApplication UseA1FleetSecurity(this WebApplication app)
    {
        app.UseMiddleware<AuditMiddleware>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        // After authentication (the partition is the key), before authorization (so a flood of refused calls is limited too).
        app.UseRateLimiter();
        app.UseAuthorization();
        return app;
    }

    private static void ConfigureRateLimits(RateLimiterOptions options, ApiLimitsOptions limits)
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            if (!context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
            {
                return RateLimitPartition.GetNoLimiter("unlimited");
            }

            var partition = context.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } keyId
                ? "key:" + keyId
                : "address:" + context.Connection.RemoteIpAddress;
            return RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = limits.Burst,
                TokensPerPeriod = limits.PermitsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        });
        options.OnRejected = async (rejected, cancellationToken) =>
        {
            var context = rejected.HttpContext;
            var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
            var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status429TooManyRequests,
                    Title = "Too many requests",
                    Detail = $"more than {limits.PermitsPerSecond} requests per second (burst {limits.Burst}) from this API key: retry after {seconds} s (A1Fleet:Api:PermitsPerSecond, Burst)",
                },
            });
        };
    }
}
