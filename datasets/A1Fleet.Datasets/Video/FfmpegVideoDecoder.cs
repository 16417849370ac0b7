using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace A1Fleet.Datasets.Video;

/// <summary>
/// Decodes an episode's video (LeRobot "video" features: one mp4 per episode and camera) into RGB8
/// frames by running the ffmpeg executable, scaled by ffmpeg to the model's camera size. Whole
/// episodes are decoded at once because calibration uses every frame.
/// </summary>
public sealed class FfmpegVideoDecoder(string executable = "ffmpeg")
{
    public string Executable { get; } = executable;

    /// <summary>Whether the executable can be started (it is on PATH, or the given path exists).</summary>
    public bool IsAvailable()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(Executable, "-version")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return false;
            }

            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Every frame of <paramref name="videoPath"/> as RGB8 HWC at height x width.</summary>
    /// <exception cref="InvalidDataException">ffmpeg failed or produced a partial frame; the message carries its stderr.</exception>
    public async Task<List<byte[]>> DecodeAsync(string videoPath, int height, int width, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "-v", "error", "-nostdin", "-i", videoPath,
            "-vf", string.Create(CultureInfo.InvariantCulture, $"scale={width}:{height}:flags=area"),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidDataException($"could not start '{Executable}'");
        using var cancel = cancellationToken.Register(() =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        });
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        using var output = new MemoryStream();
        await process.StandardOutput.BaseStream.CopyToAsync(output, cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var stderr = await errors;
        if (process.ExitCode != 0)
        {
            throw new InvalidDataException($"ffmpeg could not decode '{videoPath}' (exit {process.ExitCode}): {stderr.Trim()}");
        }

        var frameBytes = height * width * 3;
        var data = output.GetBuffer().AsSpan(0, (int)output.Length);
        if (data.Length % frameBytes != 0)
        {
            throw new InvalidDataException($"ffmpeg returned {data.Length} bytes for '{videoPath}', not a whole number of {width}x{height} RGB frames");
        }

        var frames = new List<byte[]>(data.Length / frameBytes);
        for (var offset = 0; offset < data.Length; offset += frameBytes)
        {
            frames.Add(data.Slice(offset, frameBytes).ToArray());
        }

        return frames;
    }
}
