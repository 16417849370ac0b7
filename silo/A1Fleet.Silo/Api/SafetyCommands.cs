using A1Fleet.Grains;
using Microsoft.Extensions.Options;

namespace A1Fleet.Silo.Api;

/// <summary>
/// How the operator API retries e-stops and resumes. Section "A1Fleet:SafetyCommands". The deadline is the
/// operator's (request field <c>deadlineMs</c>), bounded here; retries back off exponentially between
/// <see cref="FirstBackoff"/> and <see cref="MaxBackoff"/>.
/// </summary>
public sealed class SafetyCommandOptions
{
    public const string SectionName = "A1Fleet:SafetyCommands";

    /// <summary>Deadline when the request names none: long enough for Orleans to declare a killed silo dead and reactivate its grains.</summary>
    public TimeSpan DefaultDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest deadline a request may ask for: an operator waiting on an e-stop wants an answer, and a1ctl's
    /// HTTP client gives up after 30 s, so the default stays below that.
    /// </summary>
    public TimeSpan MaxDeadline { get; set; } = TimeSpan.FromSeconds(25);

    public TimeSpan FirstBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(1);
}

public sealed class SafetyCommandOptionsValidator : IValidateOptions<SafetyCommandOptions>
{
    public ValidateOptionsResult Validate(string? name, SafetyCommandOptions o)
    {
        var errors = new List<string>();
        if (o.MaxDeadline <= TimeSpan.Zero || o.MaxDeadline > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{SafetyCommandOptions.SectionName}:MaxDeadline {o.MaxDeadline} must be within (0, 00:10:00] (default 00:00:25).");
        }

        if (o.DefaultDeadline <= TimeSpan.Zero || o.DefaultDeadline > o.MaxDeadline)
        {
            errors.Add($"{SafetyCommandOptions.SectionName}:DefaultDeadline {o.DefaultDeadline} must be positive and at most MaxDeadline ({o.MaxDeadline}).");
        }

        if (o.FirstBackoff <= TimeSpan.Zero || o.MaxBackoff < o.FirstBackoff)
        {
            errors.Add($"{SafetyCommandOptions.SectionName}:FirstBackoff {o.FirstBackoff} must be positive and MaxBackoff {o.MaxBackoff} at least as long.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Retries an e-stop (or resume) per robot until each is confirmed or the deadline passes. It runs in the HTTP
/// handler on the silo that took the request and calls robot grains directly, so a silo that dies meanwhile
/// only costs the calls it was hosting: Orleans reactivates those grains on a survivor and the next attempt
/// lands there. Resolving the selector (fleet grain) is retried the same way. Failures of one robot never
/// delay another: each robot retries on its own. Plain class: time and the pause between attempts are injected.
/// </summary>
public sealed class SafetyCommandRetrier(SafetyCommandOptions options, TimeProvider time, Func<TimeSpan, CancellationToken, Task>? pause = null)
{
    private readonly Func<TimeSpan, CancellationToken, Task> _pause = pause ?? ((delay, ct) => Task.Delay(delay, time, ct));

    public SafetyCommandOptions Options => options;

    /// <summary>
    /// Resolves the robots with <paramref name="resolve"/>, then sends <paramref name="command"/> to each until it is
    /// confirmed or <paramref name="deadline"/> has passed. Exceptions from either become unconfirmed results, never escape.
    /// </summary>
    public async Task<SafetyCommandReport> RunAsync(
        string commandName,
        RobotSelector selector,
        Func<CancellationToken, Task<IReadOnlyList<string>>> resolve,
        Func<string, CancellationToken, Task<EStopConfirmation>> command,
        TimeSpan deadline,
        CancellationToken cancellationToken = default)
    {
        var until = time.GetUtcNow() + deadline;
        IReadOnlyList<string>? targets = null;
        string? resolveError = null;
        for (var attempt = 1; targets is null; attempt++)
        {
            try
            {
                targets = await resolve(cancellationToken).WaitAsync(Remaining(until), time, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                resolveError = $"could not resolve '{selector}' (attempt {attempt}): {Describe(ex)}";
                if (!await PauseBeforeRetry(attempt, until, cancellationToken))
                {
                    return new SafetyCommandReport(commandName, selector.ToString(), false, deadline.TotalMilliseconds, [], resolveError);
                }
            }
        }

        var results = await Task.WhenAll(targets.Select(id => RunOneAsync(id, command, until, cancellationToken)));
        var unconfirmed = results.Count(r => !r.Confirmed);
        return new SafetyCommandReport(commandName, selector.ToString(), unconfirmed == 0, deadline.TotalMilliseconds, results,
            unconfirmed == 0 ? null : $"{unconfirmed} of {results.Length} robot(s) not confirmed within {deadline.TotalMilliseconds:F0} ms");
    }

    private async Task<RobotSafetyResult> RunOneAsync(string robotId, Func<string, CancellationToken, Task<EStopConfirmation>> command, DateTimeOffset until, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            EStopConfirmation answer;
            try
            {
                answer = await command(robotId, cancellationToken).WaitAsync(Remaining(until), time, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                answer = new EStopConfirmation(robotId, 0, false, false, false, ex is TimeoutException
                    ? "no answer before the deadline (its silo may be down and the grain not yet reactivated)"
                    : $"call failed: {Describe(ex)}");
            }

            if (answer.Confirmed || !await PauseBeforeRetry(attempt, until, cancellationToken))
            {
                return new RobotSafetyResult(robotId, answer.Confirmed, answer.Generation, answer.Persisted, answer.Pushed, answer.AgentOnline, attempt, answer.Error, answer.PersistedAt);
            }
        }
    }

    /// <summary>Waits out the backoff of <paramref name="attempt"/>; false when the deadline would pass first (no retry then).</summary>
    private async Task<bool> PauseBeforeRetry(int attempt, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var backoff = Backoff(attempt);
        if (time.GetUtcNow() + backoff >= until)
        {
            return false;
        }

        await _pause(backoff, cancellationToken);
        return true;
    }

    /// <summary>FirstBackoff doubling per attempt, capped at MaxBackoff.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var ticks = options.FirstBackoff.Ticks * Math.Pow(2, Math.Min(attempt - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(ticks, options.MaxBackoff.Ticks));
    }

    private TimeSpan Remaining(DateTimeOffset until)
    {
        var left = until - time.GetUtcNow();
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private static string Describe(Exception ex) => ex is TimeoutException ? "no answer before the deadline" : $"{ex.GetType().Name}: {ex.Message}";
}

public static class SafetyCommandServiceExtensions
{
    /// <summary>Options (validated on start) and the retrier the e-stop and resume endpoints use.</summary>
    public static IServiceCollection AddSafetyCommands(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SafetyCommandOptions>().Bind(configuration.GetSection(SafetyCommandOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SafetyCommandOptions>, SafetyCommandOptionsValidator>();
        services.AddSingleton(sp => new SafetyCommandRetrier(sp.GetRequiredService<IOptions<SafetyCommandOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
