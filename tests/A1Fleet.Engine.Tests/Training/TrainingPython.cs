using System.Diagnostics;
using System.Text;

namespace A1Fleet.Engine.Tests.Training;

/// <summary>Runs the training package (training/a1fleet_train) on Debian's Python, where torch lives.</summary>
internal static class TrainingPython
{
    /// <summary>Debian's interpreter: python3-torch and python3-onnx install there, whatever python3 comes first on PATH.</summary>
    public const string Interpreter = "/usr/bin/python3";

    private static readonly Lazy<string?> Missing = new(FindMissing);

    /// <summary>Null when torch and onnx import; otherwise why not.</summary>
    public static string? WhyUnavailable => Missing.Value;

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "A1Fleet.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (A1Fleet.sln) above " + AppContext.BaseDirectory);
        }
    }

    public static string TrainingDirectory => Path.Combine(RepositoryRoot, "training");

    /// <summary>Runs <c>python3 args</c> in training/ and returns stdout; a non-zero exit fails with stderr's tail.</summary>
    public static string Run(params string[] args)
    {
        var (code, stdout, stderr) = Execute(args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{Interpreter} {string.Join(' ', args)} exited with {code}:\n{Tail(stderr)}\n{Tail(stdout)}");
        }

        return stdout;
    }

    private static (int Code, string Stdout, string Stderr) Execute(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(Interpreter)
        {
            WorkingDirectory = TrainingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var process = Process.Start(info)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (stdout) { stdout.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        lock (stdout)
        {
            lock (stderr)
            {
                return (process.ExitCode, stdout.ToString(), stderr.ToString());
            }
        }
    }

    private static string? FindMissing()
    {
        if (!File.Exists(Interpreter))
        {
            return $"{Interpreter} is not installed";
        }

        try
        {
            var (code, _, stderr) = Execute(["-c", "import torch, onnx, numpy"]);
            return code == 0 ? null : $"{Interpreter} cannot import torch/onnx/numpy (apt: python3-torch python3-onnx; bash scripts/test.sh installs them): {Tail(stderr, 300)}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"{Interpreter} cannot run: {ex.Message}";
        }
    }

    private static string Tail(string text, int chars = 3000) => text.Length <= chars ? text : text[^chars..];
}

/// <summary>A [Fact] skipped, with the reason, when Debian's Python lacks torch (reported skipped, never passed).</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (TrainingPython.WhyUnavailable is { } why)
        {
            Skip = why;
        }
    }
}
