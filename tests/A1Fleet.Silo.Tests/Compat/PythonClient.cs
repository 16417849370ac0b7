using System.Diagnostics;
using System.Text.Json;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>
/// Runs one of the independent Python robot clients (Compat/clients, Debian's /usr/bin/python3 with python3-msgpack,
/// -numpy, -websockets, -requests): its last stdout line is its JSON result. A line "WAIT what" asks the test to act
/// (<c>onWait</c>) before the client goes on.
/// </summary>
public static class PythonClient
{
    public const string Python = "/usr/bin/python3";

    public static async Task<JsonElement> RunAsync(string script, IEnumerable<string> args, Func<string, Task>? onWait = null, bool expectSuccess = true)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Compat", "clients");
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add(Path.Combine(directory, script));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // No proxy from the environment between the client and the loopback silo.
        start.Environment["NO_PROXY"] = "*";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{Python} did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        string? last = null;
        var lines = new List<string>();
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            lines.Add(line);
            if (line.StartsWith("WAIT ", StringComparison.Ordinal))
            {
                Assert.NotNull(onWait);
                await onWait(line[5..]);
                await process.StandardInput.WriteLineAsync("go");
                await process.StandardInput.FlushAsync(timeout.Token);
            }
            else
            {
                last = line;
            }
        }

        await process.WaitForExitAsync(timeout.Token);
        var errors = await stderr;
        var output = string.Join('\n', lines);
        if (expectSuccess)
        {
            Assert.True(process.ExitCode == 0, $"{script} {string.Join(' ', start.ArgumentList.Skip(1).Take(1))} exited {process.ExitCode}:\n{output}\n{errors}");
        }

        Assert.False(last is null, $"{script} printed no result:\n{errors}");
        using var document = JsonDocument.Parse(last!);
        return document.RootElement.Clone();
    }
}
